package coord_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"pwstore/coord"
)

// A writer appends a time series while a reader in the same process
// follows it; in real use the reader is another process or job.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "run.pw")

	w, err := coord.Create(path, coord.Config{ManualTicks: true})
	if err != nil {
		log.Fatal(err)
	}
	energy, err := w.CreateDataset("/series/energy", coord.Spec{
		Type: coord.Int64, Shape: []uint64{0}, MaxShape: []uint64{coord.Unlimited}, Chunk: []uint64{512},
	})
	if err != nil {
		log.Fatal(err)
	}
	r, err := coord.OpenReader(path, coord.Config{ManualTicks: true})
	if err != nil {
		log.Fatal(err)
	}
	for step := range uint64(3) {
		energy.Extend(step + 1)
		energy.WriteSlab([]uint64{step}, []uint64{1}, binary.LittleEndian.AppendUint64(nil, 100+step))
		w.EndTick() // publish the step

		r.Tick() // adopt the newest snapshot
		v, _ := r.Dataset("/series/energy")
		shape, _ := v.Shape()
		buf := make([]byte, 8*shape[0])
		v.ReadSlab([]uint64{0}, shape, buf)
		fmt.Println("reader sees", shape[0], "steps, last value", binary.LittleEndian.Uint64(buf[len(buf)-8:]))
	}
	r.Close()
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// reader sees 1 steps, last value 100
	// reader sees 2 steps, last value 101
	// reader sees 3 steps, last value 102
}
