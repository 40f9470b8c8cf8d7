package viewer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"pacsd/dicom/pixel"
)

// An image beyond the decoding limits says so, in Chinese first, rather than "cannot be
// shown".
func TestPixelErrorTooLarge(t *testing.T) {
	var he *httpError
	if !errors.As(pixelError(fmt.Errorf("frame 0: %w", pixel.ErrTooLarge)), &he) {
		t.Fatal("not an httpError")
	}
	if he.status != http.StatusUnprocessableEntity || he.key != "viewer.toolarge" {
		t.Fatalf("got %d %s", he.status, he.key)
	}
	zh, err := translate("zh", he.key)
	if err != nil || !strings.Contains(zh, "原始图像") {
		t.Fatalf("zh: %q %v", zh, err)
	}
}
