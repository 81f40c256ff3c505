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
			at, _ := slices.BinarySearchFunc(want, k, func(id int32, k orderKey) int { return key(id).compare(k) })
			want = slices.Insert(want, at, next)
			next++
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

// The pending order empties and fills again: blocks given back are used again without mixing up ids.
func TestOrderedIDsEmptyAndFillAgain(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	keys := map[int32]orderKey{}
	key := func(id int32) orderKey { return keys[id] }
	var o orderedIDs
	next := int32(0)
	for round := range 5 {
		var ids []int32
		for i := range 3 * orderedBlock {
			keys[next] = orderKey{t: int64(round*10_000 + i)}
			o.insert(next, key)
			ids = append(ids, next)
			next++
		}
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		for i, id := range ids {
			if !o.remove(id, key) {
				t.Fatalf("round %d: %d lost", round, id)
			}
			if i%100 == 0 { // the rest is still in order
				var got []int32
				o.walk(0, o.n, false, func(id int32) bool { got = append(got, id); return true })
				if len(got) != len(ids)-i-1 || !slices.IsSortedFunc(got, func(a, b int32) int { return key(a).compare(key(b)) }) {
					t.Fatalf("round %d: %d ids left, out of order or lost", round, len(got))
				}
			}
		}
		if o.n != 0 || len(o.blocks) != 0 || len(o.last) != 0 {
			t.Fatalf("round %d: %d ids, %d blocks left", round, o.n, len(o.blocks))
		}
	}
}
