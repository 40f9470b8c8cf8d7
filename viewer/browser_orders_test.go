package viewer

import (
	"encoding/json"
	"testing"
	"time"

	"pacsd/internal/browsertest"
)

// TestOrdersInBrowser runs browsertest/orders.mjs against a real reading room: registering a
// scheduled procedure with a Chinese name at the desk, a refused date named beside its field
// with what was typed kept, the corrected order in today's list (Beijing time) in words, and
// the form and the list usable at 390 px without the page scrolling sideways.
func TestOrdersInBrowser(t *testing.T) {
	browsertest.Require(t)
	en, _, _ := newOrdersEnv(t) // 甲镇卫生院 with DR_A, 乙镇卫生院 with US_B
	en.admin()
	today := en.viewer.today()
	sc := map[string]any{
		"admin":   map[string]string{"username": "admin", "password": en.adminPW},
		"date":    today[:4] + "-" + today[4:6] + "-" + today[6:],
		"station": "DR_A",
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "orders.mjs", browsertest.Options{
		BaseURL: en.srv.URL,
		Env:     map[string]string{"ORDERS_SCENARIO": string(scJSON)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"administrator logs in",
		"a refused date is named beside its field and what was typed is kept",
		"the corrected order appears in the day's list in words",
		"at 390 px the form and the list fit the screen",
		"no failed requests",
	)
}
