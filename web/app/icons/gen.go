//go:build ignore

// gen draws the app's icons (a hearth: a house with a flame) as PNGs:
// go run web/app/icons/gen.go web/app/icons
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

func main() {
	dir := os.Args[1]
	for _, size := range []int{192, 512} {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		bg := color.RGBA{0x3b, 0x2f, 0x2a, 0xff}
		house := color.RGBA{0xf6, 0xf4, 0xf1, 0xff}
		flame := color.RGBA{0xe8, 0x7a, 0x2c, 0xff}
		s := float64(size)
		for y := range size {
			for x := range size {
				fx, fy := float64(x)/s, float64(y)/s
				c := bg
				// The house: a roof triangle over a square, inside the
				// maskable safe zone (the middle 80%).
				roof := fy >= 0.22 && fy <= 0.45 && math.Abs(fx-0.5) <= (fy-0.22)*1.3
				body := fy > 0.45 && fy <= 0.78 && fx >= 0.26 && fx <= 0.74
				if roof || body {
					c = house
				}
				// The flame: a drop in the house.
				dx, dy := (fx-0.5)/0.11, (fy-0.64)/0.13
				if dy > -1.6 && (dx*dx+dy*dy <= 1 || dy < 0 && math.Abs(dx) <= (1+dy/1.6)*math.Sqrt(max(0, 1-dy*dy/2.56))) {
					c = flame
				}
				img.Set(x, y, c)
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("icon-%d.png", size)))
		if err != nil {
			panic(err)
		}
		if err := png.Encode(f, img); err != nil {
			panic(err)
		}
		f.Close()
	}
}
