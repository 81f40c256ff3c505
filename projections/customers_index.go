package projections

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// This file holds the index structures of the customers read model. Rows are numbered densely (int32 ids)
// across counterparties; indexes hold ids, not pointers, so that they are compact and the garbage collector
// has little to scan.

// chunkRows is how many rows one chunk of a rowStore holds: rows never move once stored, so a pointer to one
// stays valid, and a store of a million rows is a few hundred allocations instead of a million.
const chunkRows = 1 << 12

type rowStore[T any] struct {
	chunks [][]T
	n      int32
}

func (s *rowStore[T]) add() (int32, *T) {
	id := s.n
	if int(id)%chunkRows == 0 {
		s.chunks = append(s.chunks, make([]T, chunkRows))
	}
	s.n++
	return id, &s.chunks[id/chunkRows][id%chunkRows]
}

func (s *rowStore[T]) at(id int32) *T { return &s.chunks[id/chunkRows][id%chunkRows] }

// postings maps a value to the ids of the rows that have it, in no particular order. Each row records where
// it sits in the list of its value (slot), so that moving a row to another value is O(1): the last id of
// the list takes its place.
type postings[K comparable] map[K][]int32

func (m postings[K]) add(k K, id int32, slot *int32) {
	l := m[k]
	*slot = int32(len(l))
	m[k] = append(l, id)
}

// remove takes id out of k's list; slotOf gives the slot of any row of the list.
func (m postings[K]) remove(k K, id int32, slotOf func(int32) *int32) {
	l := m[k]
	i := *slotOf(id)
	if int(i) >= len(l) || l[i] != id {
		// The row's slot and its list disagree: an index is corrupt, and every answer from it would be wrong.
		panic(fmt.Sprintf("projections: customers: row %d is not at slot %d of its index list %v", id, i, k))
	}
	last := l[len(l)-1]
	l[i] = last
	*slotOf(last) = i
	l = l[:len(l)-1]
	if len(l) == 0 {
		delete(m, k)
	} else {
		m[k] = l
	}
}

// count is how many rows have any of keys.
func (m postings[K]) count(keys []K) int {
	n := 0
	for _, k := range keys {
		n += len(m[k])
	}
	return n
}

// sortedIDs is an ordering of rows maintained lazily: Apply only notes which rows are new or changed their
// key, and the first query that needs the ordering brings it up to date, merging the few changed rows into
// the sorted rest, or sorting everything when many changed (a rebuild from the log). So no event pays for a
// sort, and an unfiltered ordered page needs no sort at all.
type sortedIDs struct {
	ids     []int32 // sorted as of the last build, plus rows appended in order since
	changed []int32 // rows added or re-keyed since the last build (repeats allowed); not in order
	full    bool    // too many changes: sort all rows from scratch
}

func (o *sortedIDs) dirty() bool { return o.full || len(o.changed) > 0 }

// touch notes that id was added or changed its key.
func (o *sortedIDs) touch(id int32) {
	if o.full {
		return
	}
	o.changed = append(o.changed, id)
	if len(o.changed) > len(o.ids)/8+1024 {
		// Merging costs a pass over ids; past this a full sort is as cheap and the list stays bounded.
		o.full, o.changed = true, nil
	}
}

// appendOrTouch adds a new row in its place when that is among the last maxBackInsert rows (the clocks of
// concurrent writers differ by little, so creation times reach the log slightly out of order), else
// through touch. Every row it compares with must sort by its key now: the caller uses it only for keys that
// never change, or on a list with no change pending.
func (o *sortedIDs) appendOrTouch(id int32, ord rowOrder) {
	if o.full {
		return
	}
	n := len(o.ids)
	j := n
	for j > 0 && n-j < maxBackInsert && ord.compare(o.ids[j-1], id) > 0 {
		j--
	}
	if j > 0 && ord.compare(o.ids[j-1], id) > 0 {
		o.touch(id)
		return
	}
	o.ids = append(o.ids, 0)
	copy(o.ids[j+1:], o.ids[j:n])
	o.ids[j] = id
}

// maxBackInsert bounds how far back appendOrTouch looks for a row's place.
const maxBackInsert = 256

// rowOrder is how one ordering compares rows: by a 64-bit prefix of the key first (cheap to sort by), then
// by the whole key and the GUID.
type rowOrder interface {
	prefix(id int32) uint64
	compare(a, b int32) int
}

// build brings o up to date; all is every row the ordering holds. The new ids slice is fresh, because
// readers may be walking the old one.
func (o *sortedIDs) build(all []int32, ord rowOrder, rows int32) {
	if o.full {
		ids := slices.Clone(all)
		sortRows(ids, ord)
		o.ids, o.changed, o.full = ids, nil, false
		return
	}
	if len(o.changed) == 0 {
		return
	}
	mark := newBitset(rows)
	changed := o.changed[:0:0]
	for _, id := range o.changed {
		if mark.set(id) {
			changed = append(changed, id)
		}
	}
	sortRows(changed, ord)
	// The rest keep their order; each changed row goes where a binary search puts it, so that a handful of
	// changes costs a copy of the list and a few dozen comparisons each, not a comparison per row.
	rest := make([]int32, 0, len(o.ids))
	for _, id := range o.ids {
		if !mark.has(id) {
			rest = append(rest, id)
		}
	}
	ids := make([]int32, 0, len(rest)+len(changed))
	lo := 0
	for _, c := range changed {
		i := lo + sort.Search(len(rest)-lo, func(i int) bool { return ord.compare(rest[lo+i], c) > 0 })
		ids = append(append(ids, rest[lo:i]...), c)
		lo = i
	}
	ids = append(ids, rest[lo:]...)
	o.ids, o.changed = ids, nil
}

type sortItem struct {
	prefix uint64
	id     int32
}

// sortRows sorts ids by ord, comparing the prefixes of keys in a flat slice so that most comparisons touch
// no row.
func sortRows(ids []int32, ord rowOrder) {
	if len(ids) < 2 {
		return
	}
	items := make([]sortItem, len(ids))
	for i, id := range ids {
		items[i] = sortItem{ord.prefix(id), id}
	}
	slices.SortFunc(items, func(a, b sortItem) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		return ord.compare(a.id, b.id)
	})
	for i, it := range items {
		ids[i] = it.id
	}
}

// bytesPrefix is stringPrefix of b.
func bytesPrefix(b []byte) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(b) {
			p |= uint64(b[i])
		}
	}
	return p
}

// timePrefix orders Unix nanoseconds as unsigned numbers.
func timePrefix(ns int64) uint64 { return uint64(ns) ^ 1<<63 }

// stringPrefix is the first 8 bytes of s, big-endian, zero-padded: it orders as the strings do, up to ties.
func stringPrefix(s string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(s) {
			p |= uint64(s[i])
		}
	}
	return p
}

// bitset is a set of row ids.
type bitset []uint64

func newBitset(rows int32) bitset { return make(bitset, (int(rows)+63)/64) }

// set adds id and reports whether it was new.
func (b bitset) set(id int32) bool {
	w, m := id/64, uint64(1)<<(id%64)
	if b[w]&m != 0 {
		return false
	}
	b[w] |= m
	return true
}

func (b bitset) has(id int32) bool { return b[id/64]&(1<<(id%64)) != 0 }

// arena keeps the strings of rows in large byte chunks, so that rows hold no pointers: the garbage
// collector then has nothing to scan in a read model of millions of rows, which during a rebuild (a great
// deal of allocation while the model grows) would otherwise cost more than building it.
type arena struct {
	chunks [][]byte
}

// strRef is a string kept in an arena; the zero strRef is "".
type strRef struct {
	chunk, off, n uint32
}

const arenaChunk = 1 << 20

func (a *arena) put(s string) strRef {
	if s == "" {
		return strRef{}
	}
	c := len(a.chunks) - 1
	if c < 0 || len(a.chunks[c])+len(s) > cap(a.chunks[c]) {
		a.chunks = append(a.chunks, make([]byte, 0, max(arenaChunk, len(s))))
		c++
	}
	off := len(a.chunks[c])
	a.chunks[c] = append(a.chunks[c], s...)
	return strRef{uint32(c), uint32(off), uint32(len(s))}
}

// bytes is the string r, in the arena's memory: do not change or keep it.
func (a *arena) bytes(r strRef) []byte {
	if r.n == 0 {
		return nil
	}
	return a.chunks[r.chunk][r.off : r.off+r.n : r.off+r.n]
}

func (a *arena) str(r strRef) string { return string(a.bytes(r)) }

// sym is a value many rows share (a name, a status, a branch GUID) by its number in symbols; 0 is "".
type sym uint32

type symbols struct {
	list []string
	of   map[string]sym
}

func newSymbols() symbols { return symbols{list: []string{""}, of: map[string]sym{"": 0}} }

// add returns the symbol of s, making one; only Apply calls it, holding the write lock.
func (t *symbols) add(s string) sym {
	if v, ok := t.of[s]; ok {
		return v
	}
	v := sym(len(t.list))
	t.list = append(t.list, s)
	t.of[s] = v
	return v
}

func (t *symbols) find(s string) (sym, bool) {
	v, ok := t.of[s]
	return v, ok
}

// text is s as the symbol table holds it, so that a value already known costs no allocation.
func (t *symbols) text(b []byte) string {
	if v, ok := t.of[string(b)]; ok {
		return t.list[v]
	}
	return string(b)
}

// guidKey is a GUID in 16 bytes: a map key that hashes and compares without following a pointer. Its byte
// order is the order of the canonical (lower-case) text.
type guidKey [16]byte

// parseGUID reads a GUID in canonical form (8-4-4-4-12 hexadecimal digits, either case).
func parseGUID(s string) (guidKey, bool) {
	var k guidKey
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return k, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, lo := hexDigits[s[i]], hexDigits[s[i+1]]
		if hi|lo > 15 {
			return k, false
		}
		k[j] = hi<<4 | lo
		j++
		i += 2
	}
	return k, true
}

// hexDigits is the value of each hexadecimal digit, and 0xff for any other byte.
var hexDigits = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c], t[c-'a'+'A'] = byte(c-'a'+10), byte(c-'a'+10)
	}
	return t
}()

func (k guidKey) String() string {
	const digits = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range k {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = digits[c>>4], digits[c&15]
		j += 2
	}
	return string(b[:])
}

// gid is a GUID as the maps key it: canonical by its 16 bytes, otherwise by its lower-cased text.
type gid struct {
	key  guidKey
	odd  bool
	text string // when odd
	as   string // when odd: as written, which is how it is shown
}

func toGID(s string) gid {
	if k, ok := parseGUID(s); ok {
		return gid{key: k}
	}
	return gid{odd: true, text: strings.ToLower(s), as: s}
}

// guidMap finds rows by GUID. A GUID that is not in canonical form (no event of this system has one, but
// the read model must not lose it) is kept by its lower-cased text.
type guidMap struct {
	ids map[guidKey]int32
	odd map[string]int32
}

func newGUIDMap() guidMap { return guidMap{ids: map[guidKey]int32{}, odd: map[string]int32{}} }

func (m guidMap) get(s string) (int32, bool) { return m.find(toGID(s)) }

func (m guidMap) find(g gid) (int32, bool) {
	if g.odd {
		id, ok := m.odd[g.text]
		return id, ok
	}
	id, ok := m.ids[g.key]
	return id, ok
}

func (m guidMap) set(g gid, id int32) {
	if g.odd {
		m.odd[g.text] = id
	} else {
		m.ids[g.key] = id
	}
}

// valueIndex finds rows by a value few rows share (a login, an external ID, a phone number, an IBAN)
// through an array of (hash of the value, row) sorted by hash. Apply only appends to pending, which touches
// no memory at random (a hash map of a million entries costs a cache miss or two per insert, most of a
// rebuild's time); a query sorts pending into the array once it has grown past valuePendingMax, and
// otherwise scans it. A row whose value changes leaves a stale entry behind until the next merge: callers
// check each candidate's value, so a stale entry, like a hash collision, is only a wasted look.
type valueIndex struct {
	sorted  []hashEntry   // by hash, then row
	pending [][]hashEntry // appended since, in no order, in chunks (so that growing copies nothing)
	stale   int           // entries whose row has another value now
}

type hashEntry struct {
	hash uint64
	id   int32
}

// valuePendingMax bounds the entries a lookup scans one by one.
const valuePendingMax = 4096

const pendingChunk = 1 << 13

func (x *valueIndex) add(h uint64, id int32) {
	if n := len(x.pending); n == 0 || len(x.pending[n-1]) == pendingChunk {
		x.pending = append(x.pending, make([]hashEntry, 0, pendingChunk))
	}
	n := len(x.pending) - 1
	x.pending[n] = append(x.pending[n], hashEntry{h, id})
}

func (x *valueIndex) pendingLen() int {
	if len(x.pending) == 0 {
		return 0
	}
	return (len(x.pending)-1)*pendingChunk + len(x.pending[len(x.pending)-1])
}

// drop notes that a row's entry no longer holds.
func (x *valueIndex) drop() { x.stale++ }

// find appends the rows whose value may hash to h; current gives a row's hash now, to leave stale entries
// out when merging. The caller holds the mutex that guards x for readers.
func (x *valueIndex) find(dst []int32, h uint64, current func(int32) uint64) []int32 {
	if x.pendingLen() > valuePendingMax {
		x.merge(current)
	}
	i, _ := slices.BinarySearchFunc(x.sorted, h, func(e hashEntry, h uint64) int { return cmp.Compare(e.hash, h) })
	for ; i < len(x.sorted) && x.sorted[i].hash == h; i++ {
		dst = append(dst, x.sorted[i].id)
	}
	for _, chunk := range x.pending {
		for _, e := range chunk {
			if e.hash == h {
				dst = append(dst, e.id)
			}
		}
	}
	return dst
}

// settle merges whatever is pending.
func (x *valueIndex) settle(current func(int32) uint64) {
	if x.pendingLen() > 0 || x.stale > 0 {
		x.merge(current)
	}
}

// merge sorts pending into a fresh array.
func (x *valueIndex) merge(current func(int32) uint64) {
	byHash := func(a, b hashEntry) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	}
	add := slices.Concat(x.pending...)
	old := x.sorted
	if x.stale > 0 {
		live := func(e hashEntry) bool { return current(e.id) != e.hash }
		old = slices.DeleteFunc(slices.Clone(old), live)
		add = slices.DeleteFunc(add, live)
		x.stale = 0
	}
	slices.SortFunc(add, byHash)
	merged := make([]hashEntry, 0, len(old)+len(add))
	i, j := 0, 0
	for i < len(old) && j < len(add) {
		if byHash(old[i], add[j]) <= 0 {
			merged = append(merged, old[i])
			i++
		} else {
			merged = append(merged, add[j])
			j++
		}
	}
	merged = append(append(merged, old[i:]...), add[j:]...)
	// A row whose value went from A to B and back has two entries for A: keep one.
	x.sorted, x.pending = slices.Compact(merged), nil
}

// corpus is the lower-cased logins of a counterparty's customers packed in large chunks of text, so that a
// search for a part of a login is a fast substring scan over contiguous memory rather than a walk over a
// million rows. Entries are separated by 0, which no login holds (logins have no control characters).
type corpus struct {
	chunks []corpusChunk
	stale  bool        // a login changed: rebuild from the rows before searching
	freq   [256]uint32 // how often each byte occurs: a search scans for its needle's rarest byte
}

type corpusChunk struct {
	text   []byte
	starts []int32 // where each entry begins in text
	ids    []int32 // the row of each entry
}

const corpusChunkBytes = 1 << 20

func (c *corpus) add(id int32, key []byte) {
	n := len(c.chunks) - 1
	if n < 0 || len(c.chunks[n].text)+1+len(key) > cap(c.chunks[n].text) {
		c.chunks = append(c.chunks, corpusChunk{text: make([]byte, 0, max(corpusChunkBytes, 1+len(key)))})
		n++
	}
	for _, b := range key {
		c.freq[b]++
	}
	ch := &c.chunks[n]
	ch.text = append(ch.text, 0)
	ch.starts = append(ch.starts, int32(len(ch.text)))
	ch.text = append(ch.text, key...)
	ch.ids = append(ch.ids, id)
}

// find calls match for every entry that contains needle (which must be neither empty nor hold a 0 byte),
// once per entry.
//
// It scans for the needle's rarest byte (SIMD IndexByte) and checks the needle around each hit: a login
// corpus is full of the same few bytes (digits of phone numbers, "@", ".", vowels), on which bytes.Index
// would stop every few bytes.
func (c *corpus) find(needle string, match func(id int32)) {
	k := 0
	for i := range len(needle) {
		if c.freq[needle[i]] < c.freq[needle[k]] {
			k = i
		}
	}
	rare := needle[k]
	for _, ch := range c.chunks {
		text := ch.text
		from, e := 0, 0
		for from+len(needle) <= len(text) {
			j := bytes.IndexByte(text[from+k:], rare)
			if j < 0 {
				break
			}
			start := from + j
			if start+len(needle) > len(text) {
				break
			}
			if string(text[start:start+len(needle)]) != needle {
				from = start + 1
				continue
			}
			at := int32(start)
			// The entry holding at is the last one starting at or before it: matches come in order, so gallop
			// from the last one found (most matches are near each other) and finish with a binary search.
			step, hi := 1, e+1
			for hi < len(ch.starts) && ch.starts[hi] <= at {
				e, hi = hi, hi+step
				step *= 2
			}
			n, _ := slices.BinarySearch(ch.starts[e:min(hi, len(ch.starts))], at+1)
			e += n - 1
			match(ch.ids[e])
			// Skip the rest of this entry: its 0 separator ends it.
			end := len(text)
			if e+1 < len(ch.starts) {
				end = int(ch.starts[e+1]) - 1
			}
			from = end
		}
	}
}

// fold is the form in which two names or logins compare equal (uniqueness.Normalise: trimmed, inner runs of
// space made one, lower-cased); it returns s itself, without allocating, when s is already in that form.
func fold(s string) string {
	space := true // no leading space
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return uniqueness.Normalise(s)
		case 'A' <= c && c <= 'Z':
			return uniqueness.Normalise(s)
		case c == ' ':
			if space {
				return uniqueness.Normalise(s)
			}
			space = true
		case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			return uniqueness.Normalise(s)
		default:
			space = false
		}
	}
	if space && len(s) > 0 {
		return uniqueness.Normalise(s) // trailing space
	}
	return s
}

// Times are kept as Unix nanoseconds: half the memory of a time.Time and a plain integer to sort by. The zero
// time is noNanos; times outside what int64 nanoseconds hold (before 1678 or after 2262) are clamped, which
// no event of this system carries.
const noNanos = math.MinInt64

var (
	minNanosTime = time.Unix(0, math.MinInt64+1)
	maxNanosTime = time.Unix(0, math.MaxInt64)
)

func toNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return noNanos
	case t.Before(minNanosTime):
		return math.MinInt64 + 1
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromNanos is the time of ns, in UTC.
func fromNanos(ns int64) time.Time {
	if ns == noNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
