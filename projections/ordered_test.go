package projections

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// orderedIDs agrees with a sorted slice through random insertions and removals, in order and out of it,
// with ties on time broken by GUID, and its block keys stay those of the blocks' last ids.
func TestOrderedIDsKeepOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	keys := map[int32]orderKey{}
	key := func(id int32) orderKey { return keys[id] }
	var o orderedIDs
	var want []int32
	sorted := func() {
		slices.SortFunc(want, func(a, b int32) int { return key(a).compare(key(b)) })
	}
	next := int32(0)
	for step := range 60_000 {
		switch {
		case len(want) > 0 && r.IntN(3) == 0: // remove one
			id := want[r.IntN(len(want))]
			if !o.remove(id, key) {
				t.Fatalf("step %d: %d was not found", step, id)
			}
			want = slices.DeleteFunc(want, func(x int32) bool { return x == id })
			if o.remove(id, key) {
				t.Fatalf("step %d: %d removed twice", step, id)
			}
		default:
			var k orderKey
			if r.IntN(2) == 0 {
				k.t = int64(step) // in order, mostly
			} else {
				k.t = r.Int64N(int64(step + 1)) // out of order, often tying
			}
			for i := range k.g {
				k.g[i] = byte(r.Uint32())
			}
			keys[next] = k
			o.insert(next, key)
			want = append(want, next)
			next++
			sorted()
		}
		if step%997 == 0 || step == 59_999 {
			var got []int32
			o.walk(0, o.n, false, func(id int32) bool { got = append(got, id); return true })
			if !slices.Equal(got, want) || o.n != len(want) {
				t.Fatalf("step %d: %d ids out of order or lost (n %d, want %d)", step, len(got), o.n, len(want))
			}
			if len(o.last) != len(o.blocks) {
				t.Fatalf("step %d: %d block keys for %d blocks", step, len(o.last), len(o.blocks))
			}
			for i, b := range o.blocks {
				if len(b) == 0 || len(b) > orderedBlock || o.last[i] != key(b[len(b)-1]) {
					t.Fatalf("step %d: block %d has %d ids and a stale last key", step, i, len(b))
				}
			}
		}
	}
	if len(o.blocks) < 10 {
		t.Fatalf("only %d blocks: the test does not split any", len(o.blocks))
	}
}
