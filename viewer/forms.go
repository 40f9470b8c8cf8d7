package viewer

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"pacsd/reading"
)

// formState is an administration form the server refused, shown again: the message names
// the field and the problem, the field's input is marked, and what was typed stays (the
// pages put the typed record back; Values keeps the boxes). Passwords are never sent back.
type formState struct {
	Form    string // the form's id: "site-form", "user-form", "user-<id>", "template-form", "sites"
	Input   string // the name of the input at fault ("" none in particular)
	Message string
	Values  url.Values
	Record  any // the record as typed (reading.Site, reading.User, reading.Template)
}

const ctxForm = "form"

// fieldInputs maps reading.FieldError fields to the inputs of the admin forms.
var fieldInputs = map[string]string{
	"name": "name", "aeTitles": "aes", "institutions": "institutions",
	"username": "username", "displayName": "display_name", "role": "role", "site": "site", "password": "password",
	"modality": "modality", "bodyPart": "body_part", "findings": "findings", "impression": "impression",
	"aeTitle": "ae", "description": "description", "host": "host", "port": "port", "siteId": "site", "addresses": "addresses",
}

// refuse records the refusal of form for the page that shows it again, and returns the
// status to answer with: 400 for invalid input, 409 for a conflict; other errors are not a
// refusal (ok false).
func refuse(c echo.Context, form string, err error, record any) (int, bool) {
	status, fallback := http.StatusBadRequest, "err.invalid"
	switch {
	case errors.Is(err, reading.ErrInvalid):
	case errors.Is(err, reading.ErrConflict):
		status, fallback = http.StatusConflict, "err.conflict"
	default:
		return 0, false
	}
	lang := langOf(c)
	fs := newFormState(c, form, record)
	var fe *reading.FieldError
	if errors.As(err, &fe) {
		fs.Input = fieldInputs[fe.Field]
		if m, terr := translate(lang, "form."+fe.Field+"."+fe.Problem); terr == nil {
			fs.Message = m
			if fe.Value != "" {
				fs.Message = fmt.Sprintf(m, fe.Value)
			}
		}
	}
	if fs.Message == "" {
		fs.Message, _ = translate(lang, fallback)
	}
	c.Set(ctxForm, fs)
	return status, true
}

// refuseWith records a refusal the handler decided itself, with a message key.
func refuseWith(c echo.Context, form, input, key string, record any) {
	fs := newFormState(c, form, record)
	fs.Input = input
	fs.Message, _ = translate(langOf(c), key)
	c.Set(ctxForm, fs)
}

// newFormState keeps what was posted, except the password and the CSRF token.
func newFormState(c echo.Context, form string, record any) *formState {
	fs := &formState{Form: form, Record: record, Values: url.Values{}}
	if f, err := c.FormParams(); err == nil {
		for k, vs := range f {
			if k != "password" && k != "csrf" {
				fs.Values[k] = vs
			}
		}
	}
	return fs
}

// passwordError names the password field in a refusal of the password policy.
func passwordError(err error) error {
	if errors.Is(err, reading.ErrInvalid) {
		return &reading.FieldError{Field: "password", Problem: reading.ProblemLength, Err: err}
	}
	return err
}

func formOf(c echo.Context) *formState {
	fs, _ := c.Get(ctxForm).(*formState)
	return fs
}

// FormHas says whether the page shows form again after a refusal.
func (p pageData) FormHas(form string) bool { return p.Form != nil && p.Form.Form == form }

// FormError is the refusal's message when it is about form.
func (p pageData) FormError(form string) string {
	if p.FormHas(form) {
		return p.Form.Message
	}
	return ""
}

// Invalid says whether input of form is the one the refusal is about.
func (p pageData) Invalid(form, input string) bool { return p.FormHas(form) && p.Form.Input == input }

// Typed is what was typed into input of form ("" when the form is not shown again).
func (p pageData) Typed(form, input string) string {
	if p.FormHas(form) {
		return p.Form.Values.Get(input)
	}
	return ""
}

// Checked says whether a check box of form is ticked: as typed when the form is shown
// again, else def.
func (p pageData) Checked(form, input string, def bool) bool {
	if p.FormHas(form) {
		return p.Form.Values.Get(input) == "1"
	}
	return def
}
