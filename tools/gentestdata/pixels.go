package main

import "encoding/binary"

// Synthetic images. Integer arithmetic only: Go may fuse floating-point multiply-adds on
// some architectures, and the files must be byte-identical wherever they are regenerated.
// Every image has a bright marker in its top-left corner so that flips and transposes in
// a decoder or renderer show up in tests.

func inEllipse(x, y, cx, cy, rx, ry int) bool {
	dx, dy := int64(x-cx), int64(y-cy)
	rx2, ry2 := int64(rx*rx), int64(ry*ry)
	return dx*dx*ry2+dy*dy*rx2 <= rx2*ry2
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// chest draws a radiograph-like picture with values in [0, maxv]: body, two darker lungs
// with ribs, a bright spine, and an 8% square marker at the top left at maxv.
func chest(w, h, maxv int) []uint16 {
	out := make([]uint16, w*h)
	rib := max(h/12, 4)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 300 + 900*y/h
			if inEllipse(x, y, w/2, h/2, w*45/100, h*48/100) {
				v += 1500
			}
			lung := inEllipse(x, y, w*31/100, h*46/100, w*14/100, h*31/100) ||
				inEllipse(x, y, w*69/100, h*46/100, w*14/100, h*31/100)
			if lung {
				v -= 1200
				if y%rib < max(rib/4, 1) {
					v += 500
				}
			}
			if d := x - w/2; d > -w/28 && d < w/28 && y > h/10 {
				v += 1000
			}
			if x < w*8/100 && y < h*8/100 {
				v = 4095
			}
			out[y*w+x] = uint16(clamp(v, 0, 4095) * maxv / 4095)
		}
	}
	return out
}

// le16 packs samples little-endian, as the encoder expects binary values.
func le16(px []uint16) []byte {
	b := make([]byte, 2*len(px))
	for i, v := range px {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// gray8 is a diagonal gradient with a bright disc, a dark square and the corner marker.
func gray8(w, h int) []byte {
	out := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 20 + 200*(x+y)/(w+h)
			if inEllipse(x, y, w*65/100, h*60/100, w/5, h/5) {
				v = 230
			}
			if x > w/8 && x < w*3/8 && y > h*5/8 && y < h*7/8 {
				v = 10
			}
			if x < max(w*8/100, 2) && y < max(h*8/100, 2) {
				v = 255
			}
			out[y*w+x] = byte(v)
		}
	}
	return out
}

// usFrame draws one RGB (interleaved, PlanarConfiguration 0) ultrasound-like frame: a fan
// with grey bands, a coloured "Doppler" disc that moves with the frame number, and
// frame+1 white squares along the top so a test can tell frames apart and in order.
func usFrame(w, h, frame int) []byte {
	out := make([]byte, 3*w*h)
	r := h - 6
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c [3]int
			dx, dy := x-w/2, y-2
			if dy > 0 && 100*abs(dx) <= 70*dy && dx*dx+dy*dy <= r*r {
				g := 50 + 120*dy/h + 40*((dx*dx+dy*dy)/37%8)/8
				c = [3]int{g, g, g}
			}
			if inEllipse(x, y, w/4+frame*w/16, h*60/100, w/12, w/12) {
				c = [3]int{200, 30 + 20*frame, 40}
			}
			if y >= 2 && y < 6 && x >= 2 && x < 2+6*(frame+1) && (x-2)%6 < 4 {
				c = [3]int{255, 255, 255}
			}
			i := 3 * (y*w + x)
			out[i], out[i+1], out[i+2] = byte(c[0]), byte(c[1]), byte(c[2])
		}
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
