package viewer

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"pacsd/store"
)

// TestPreviewMadeAtIngest: a large DR's preview is in the frame cache soon after it is
// stored, before anyone looks, and is what the preview URL then sends; a small image gets
// none (it is opened at full resolution at once).
func TestPreviewMadeAtIngest(t *testing.T) {
	en := newEnv(t)
	en.townships()
	big := syntheticDR(t, "2.25.910001", "2.25.910002", "2.25.910003", "测试^预览", 3000, 3000)
	in, err := en.archive.Put(context.Background(), bytes.NewReader(big), store.PutRequest{})
	if err != nil {
		t.Fatal(err)
	}
	small := en.put("dr_mono2.dcm", "TOWN_A")
	key := pixelsKey(in, 0, previewSide)
	deadline := time.Now().Add(30 * time.Second)
	var cached *frameEntry
	for {
		if e, ok := en.viewer.frames.Get(key); ok {
			cached = e
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no preview in the frame cache 30 s after the object was stored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cached.header["X-Pixel-Width"] != "1000" || cached.header["X-Pixel-Height"] != "1000" {
		t.Errorf("preview %sx%s, want 1000x1000", cached.header["X-Pixel-Width"], cached.header["X-Pixel-Height"])
	}
	if wantsPreview(small) {
		t.Errorf("a %v-pixel image wants a preview", small.InstanceAttrs.String(0x00280011))
	}
	if _, ok := en.viewer.frames.Get(pixelsKey(small, 0, previewSide)); ok {
		t.Error("the small image has a preview made")
	}

	doc := en.login("doc", "password-doc")
	req, _ := http.NewRequest(http.MethodGet, en.srv.URL+"/api/studies/2.25.910001/instances/2.25.910003/frames/0/pixels?preview=1", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := doc.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, cached.body) {
		t.Errorf("preview URL: %d, %d bytes; the cached preview has %d", resp.StatusCode, len(body), len(cached.body))
	}
}
