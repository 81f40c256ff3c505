package projections

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// A valueIndex answers like a map from value to rows, whether the rows are pending or merged, and however
// values changed in between.
func TestValueIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var x valueIndex
	current := map[int32]uint64{} // row → hash of its value now
	hashOf := func(id int32) uint64 { return current[id] }
	for step := range 40_000 {
		id := int32(r.IntN(3000))
		h := uint64(r.IntN(500)) // many rows share a value
		if old, ok := current[id]; ok {
			if old == h {
				continue
			}
			x.drop()
		}
		current[id] = h
		x.add(h, id)
		if step%97 == 0 {
			want := uint64(r.IntN(500))
			var rows []int32
			for id, h := range current {
				if h == want {
					rows = append(rows, id)
				}
			}
			got := slices.DeleteFunc(x.find(nil, want, hashOf), func(id int32) bool { return current[id] != want })
			slices.Sort(rows)
			slices.Sort(got)
			if got = slices.Compact(got); !slices.Equal(got, rows) {
				t.Fatalf("step %d, value %d: %v, want %v", step, want, got, rows)
			}
		}
	}
	// After a merge with stale entries dropped, each row is in the array once, under its value now.
	x.merge(hashOf)
	if x.stale != 0 || x.pendingLen() != 0 || len(x.sorted) != len(current) {
		t.Fatalf("after merge: %d sorted, %d pending, %d stale; %d rows", len(x.sorted), x.pendingLen(), x.stale, len(current))
	}
}

func TestSortedIDs(t *testing.T) {
	keys := map[int32]int{}
	ord := intOrder(keys)
	var o sortedIDs
	var all []int32
	r := rand.New(rand.NewPCG(2, 2))
	check := func() {
		t.Helper()
		o.build(all, ord, int32(len(all)))
		want := slices.Clone(all)
		sortRows(want, ord)
		if !slices.Equal(o.ids, want) {
			t.Fatalf("%v, want %v", o.ids, want)
		}
	}
	for id := range int32(2000) {
		keys[id] = int(id) + r.IntN(5) - 2 // mostly in order
		all = append(all, id)
		o.appendOrTouch(id, ord)
	}
	check()
	for range 50 { // a few changes: merged into the sorted rest
		id := int32(r.IntN(len(all)))
		keys[id] = r.IntN(3000)
		o.touch(id)
		o.touch(id)
	}
	if o.full {
		t.Fatal("50 changes made a full sort")
	}
	check()
	for id := range int32(len(all)) { // many: sorted from scratch
		keys[id] = r.IntN(100)
		o.touch(id)
	}
	if !o.full {
		t.Fatal("changing every row did not ask for a full sort")
	}
	check()
}

type intOrder map[int32]int

func (o intOrder) prefix(id int32) uint64 { return uint64(o[id]+1<<20) >> 4 } // coarse, so that ties go to compare
func (o intOrder) compare(a, b int32) int {
	if o[a] != o[b] {
		return o[a] - o[b]
	}
	return int(a - b)
}

func TestCorpus(t *testing.T) {
	var c corpus
	logins := map[int32]string{}
	for id := range int32(300_000) { // several chunks
		l := strings.Repeat("x", int(id%7)) + "user" + string(rune('a'+id%26))
		logins[id] = l
		c.add(id, []byte(l))
	}
	for _, needle := range []string{"userq", "xxxxxxuser", "x", "nope", "rb"} {
		var got []int32
		c.find(needle, func(id int32) { got = append(got, id) })
		var want []int32
		for id := range int32(len(logins)) {
			if strings.Contains(logins[id], needle) {
				want = append(want, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q: %d found, want %d", needle, len(got), len(want))
		}
	}
}

func TestNanos(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want time.Time
	}{
		{time.Time{}, time.Time{}},
		{time.Date(2026, 3, 1, 9, 0, 0, 5, time.FixedZone("", 3600)), time.Date(2026, 3, 1, 8, 0, 0, 5, time.UTC)},
		{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MinInt64+1).UTC()},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64).UTC()},
	} {
		if got := fromNanos(toNanos(tc.in)); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%v: %v, want %v", tc.in, got, tc.want)
		}
	}
	if toNanos(time.Time{}) >= toNanos(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("the zero time does not sort first")
	}
}

func TestGUIDKey(t *testing.T) {
	for _, s := range []string{"3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"} {
		k, ok := parseGUID(strings.ToUpper(s))
		if !ok || k.String() != s {
			t.Errorf("%s: %v %v", s, k, ok)
		}
	}
	for _, s := range []string{"", "3f2b6c1e8d4a4b7e9a612c5d8e0f7a93", "3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a9g", "{3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a9}"} {
		if _, ok := parseGUID(s); ok {
			t.Errorf("%q was read as a GUID", s)
		}
	}
	a, _ := parseGUID("0f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93")
	b, _ := parseGUID("a02b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93")
	if (a.String() < b.String()) != (string(a[:]) < string(b[:])) {
		t.Error("byte order is not text order")
	}
}
