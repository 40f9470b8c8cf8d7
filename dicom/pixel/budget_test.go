package pixel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/dicom"
)

// rleBomb is one RLE Lossless frame of cols x rows 16-bit zeros in replicate runs
// (PS3.5 G.3.1: a byte of -127 repeats the next byte 128 times): about 1/64 of the
// decoded size.
func rleBomb(cols, rows int) []byte {
	plane := cols * rows
	var seg []byte
	for n := plane; n > 0; n -= 128 {
		k := min(n, 128)
		seg = append(seg, byte(int8(1-k)), 0)
	}
	header := make([]byte, 64)
	binary.LittleEndian.PutUint32(header, 2)
	binary.LittleEndian.PutUint32(header[4:], 64)
	binary.LittleEndian.PutUint32(header[8:], uint32(64+len(seg)))
	out := append(header, seg...)
	return append(out, seg...)
}

// bombObject is a Part-10 RLE object declaring one 23170 x 23170 16-bit frame (1 GiB
// decoded, just under the 1 GiB per-frame bound of Open) in about 16 MB.
func bombObject(t testing.TB) []byte {
	const side = 23170
	return synth{ts: dicom.RLELossless, rows: side, cols: side, bitsAlloc: 16, bitsStored: 16,
		photometric: Monochrome2, fragments: [][][]byte{{rleBomb(side, side)}}}.build(t)
}

// TestBudgetRefusesBomb: every way of decoding the bomb is refused with ErrTooLarge before
// anything frame-sized is allocated; what was stored can still be read as stored.
func TestBudgetRefusesBomb(t *testing.T) {
	obj := bombObject(t)
	hdr, err := dicom.ReadPart10(bytes.NewReader(obj), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := NewBudget(Limits{})
	im, err := b.Open(bytes.NewReader(obj), int64(len(obj)), hdr)
	if err != nil {
		t.Fatalf("open: %v", err) // locating frames reads no pixels: the object is fine to keep
	}
	ways := map[string]func() error{
		"Frame": func() error { _, err := im.Frame(ctx, 0); return err },
		"FrameFit": func() error {
			_, err := im.FrameFit(ctx, 0, 256, 256)
			return err
		},
		"TranscodeExplicitLE": func() error {
			return b.TranscodeExplicitLE(ctx, io.Discard, bytes.NewReader(obj), int64(len(obj)), hdr)
		},
		"package TranscodeExplicitLE": func() error {
			return TranscodeExplicitLE(ctx, io.Discard, bytes.NewReader(obj), int64(len(obj)), hdr)
		},
	}
	for name, decode := range ways {
		t.Run(name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := decode()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("refusing the bomb allocated %d MB", grew>>20)
			}
		})
	}
	if b.held.Load() != 0 {
		t.Errorf("%d bytes still held", b.held.Load())
	}
	// Served as stored: the codestream is read whole (16 MB, within the budget).
	raw, err := im.RawFrame(ctx, 0)
	if err != nil || len(raw) != len(rleBomb(23170, 23170)) {
		t.Fatalf("RawFrame: %d bytes, %v", len(raw), err)
	}
}

// TestBudgetLimits: the pixel limit, and a decode needing more memory than the whole budget.
func TestBudgetLimits(t *testing.T) {
	const cols, rows = 640, 480
	obj := synth{rows: rows, cols: cols, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2,
		native: make([]byte, 2*cols*rows)}.build(t)
	hdr, err := dicom.ReadPart10(bytes.NewReader(obj), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		limits Limits
		ok     bool
	}{
		{"fits", Limits{MaxFramePixels: cols * rows, DecodeMemory: 2 * cols * rows}, true},
		{"pixels", Limits{MaxFramePixels: cols*rows - 1}, false},
		{"memory", Limits{DecodeMemory: 2*cols*rows - 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := NewBudget(tc.limits).Open(bytes.NewReader(obj), int64(len(obj)), hdr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = im.Frame(context.Background(), 0)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v (want ok: %v)", err, tc.ok)
			}
		})
	}
}

// TestBudgetQueues: two decodes that together exceed the budget run one after the other,
// and a decode whose context is cancelled while it waits leaves the queue.
func TestBudgetQueues(t *testing.T) {
	const cols, rows = 1024, 1024 // 2 MB decoded, taking 2 MB of the budget
	obj := synth{rows: rows, cols: cols, bitsAlloc: 16, bitsStored: 16, photometric: Monochrome2,
		native: make([]byte, 2*cols*rows)}.build(t)
	hdr, err := dicom.ReadPart10(bytes.NewReader(obj), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBudget(Limits{DecodeMemory: 3 << 20})
	open := func() *Image {
		im, err := b.Open(bytes.NewReader(obj), int64(len(obj)), hdr)
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	// The first decode to acquire stops in the hook until told to go on; every decode
	// reports what the budget held right after it acquired.
	acquired := make(chan int64, 4)
	goOn := make(chan struct{})
	var first sync.Once
	b.acquired = func(int64) {
		held := b.held.Load()
		acquired <- held
		first.Do(func() { <-goOn })
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			runtime.Gosched()
		}
	}

	errs := make(chan error, 3)
	go func() { _, err := open().Frame(context.Background(), 0); errs <- err }()
	if held := <-acquired; held != 2*cols*rows {
		t.Fatalf("first decode holds %d bytes, want %d", held, 2*cols*rows)
	}
	// A second decode queues behind the first.
	go func() { _, err := open().Frame(context.Background(), 0); errs <- err }()
	waitFor("the second decode to queue", func() bool { return b.waiting.Load() == 1 })
	// A third, cancelled while it waits, leaves the queue.
	ctx, cancel := context.WithCancel(context.Background())
	third := make(chan error, 1)
	go func() { _, err := open().FrameFit(ctx, 0, 256, 256); third <- err }()
	waitFor("the third decode to queue", func() bool { return b.waiting.Load() == 2 })
	cancel()
	if err := <-third; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled decode: %v", err)
	}
	waitFor("the cancelled decode to leave the queue", func() bool { return b.waiting.Load() == 1 })
	select {
	case held := <-acquired:
		t.Fatalf("a second decode acquired while the first held its memory (%d bytes held)", held)
	default:
	}

	close(goOn)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// The second acquired only once the first had given its memory back.
	if held := <-acquired; held != 2*cols*rows {
		t.Fatalf("second decode found %d bytes held, want only its own %d", held, 2*cols*rows)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if b.held.Load() != 0 || b.waiting.Load() != 0 {
		t.Fatalf("after the decodes: %d bytes held, %d waiting", b.held.Load(), b.waiting.Load())
	}
	if !b.sem.TryAcquire(3 << 20) {
		t.Fatal("the budget leaked: it cannot be taken whole")
	}
	b.sem.Release(3 << 20)
}

// BenchmarkBudgetPeakHeap renders several large objects at once through one budget and
// reports the peak heap in use (sampled), and what the budget held at most: bombs (refused
// before allocation), and 18.5 MP DR frames (4300 x 4300, 16 bits, RLE) queued within a
// 128 MB budget.
//
//	go test ./dicom/pixel/ -run '^$' -bench BudgetPeakHeap -benchtime 1x
func BenchmarkBudgetPeakHeap(b *testing.B) {
	dr := synth{ts: dicom.RLELossless, rows: 4300, cols: 4300, bitsAlloc: 16, bitsStored: 14,
		photometric: Monochrome2, fragments: [][][]byte{{rleBomb(4300, 4300)}}}.build(b)
	for _, bc := range []struct {
		name   string
		obj    []byte
		n      int
		limits Limits
	}{
		{"bombs=8", bombObject(b), 8, Limits{}},
		{"dr18MP=8/budget=128MB", dr, 8, Limits{DecodeMemory: 128 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hdr, err := dicom.ReadPart10(bytes.NewReader(bc.obj), dicom.ReadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			budget := NewBudget(bc.limits)
			var maxHeld atomic.Int64
			budget.acquired = func(int64) {
				for h := budget.held.Load(); h > maxHeld.Load(); {
					if maxHeld.CompareAndSwap(maxHeld.Load(), h) {
						break
					}
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			var peak uint64
			stop, sampled := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(sampled)
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				for range bc.n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						im, err := budget.Open(bytes.NewReader(bc.obj), int64(len(bc.obj)), hdr)
						if err != nil {
							b.Error(err)
							return
						}
						fr, err := im.FrameFit(context.Background(), 0, 512, 512)
						if err != nil {
							if !errors.Is(err, ErrTooLarge) {
								b.Error(err)
							}
							return
						}
						if _, err := Render(fr, im.Info(), RenderOptions{Width: 512, Height: 512}); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			b.StopTimer()
			close(stop)
			<-sampled
			b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(maxHeld.Load())/(1<<20), "max-held-MB")
		})
	}
}
