package projections

import (
	"bytes"
	"encoding/base64"
	"time"
	"unicode/utf8"
)

// jsonIn is the customers read model's fast path for reading the JSON of one event: a strict reader of the
// JSON grammar that hands out the bytes of strings without copying them, so that a rebuild over millions of
// events neither reflects over struct types nor allocates strings it will intern or only look up.
// encoding/json needs about 14 µs for a customer's three events; this reader needs a fraction of that.
//
// It is exact or it gives up: whatever it cannot read exactly as encoding/json would (an escaped key, a key
// that differs from a field's only in case, a surrogate escape, invalid UTF-8, a number into an int that is
// not a plain integer, deep nesting, invalid JSON) sets slow, and the caller decodes the event again with the
// domain's codec, whose answer (value or error) is the one that counts. So a value read here with slow unset
// is the value encoding/json would give, and invalid JSON never gets past it.
type jsonIn struct {
	b     []byte
	i     int
	slow  bool
	depth int
	buf   []byte // the last unescaped string; valid until the next string is read
	seed  []byte // scratch for checking base64, so that it is not kept
}

// maxJSONDepth bounds nesting on the fast path; events nest two levels.
const maxJSONDepth = 32

func (r *jsonIn) reset(b []byte) {
	r.b, r.i, r.slow, r.depth = b, 0, false, 0
}

func (r *jsonIn) bail() {
	r.slow = true
	r.i = len(r.b)
}

func (r *jsonIn) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *jsonIn) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *jsonIn) lit(word string) {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		r.bail()
		return
	}
	r.i += len(word)
}

// end checks that nothing but space follows the top-level value.
func (r *jsonIn) end() {
	r.ws()
	if r.i != len(r.b) {
		r.bail()
	}
}

// object reads an object, calling member for each key with the reader at the member's value; member must
// read exactly one value. A null is no object, as encoding/json leaves a struct alone for null.
func (r *jsonIn) object(member func(key []byte)) {
	if r.slow {
		return
	}
	r.ws()
	if r.peek() == 'n' {
		r.lit("null")
		return
	}
	if r.peek() != '{' || r.depth >= maxJSONDepth {
		r.bail()
		return
	}
	r.i++
	r.depth++
	r.ws()
	if r.peek() == '}' {
		r.i++
		r.depth--
		return
	}
	for !r.slow {
		r.ws()
		key := r.key()
		r.ws()
		if r.peek() != ':' {
			r.bail()
			return
		}
		r.i++
		r.ws()
		member(key)
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return
		default:
			r.bail()
			return
		}
	}
}

// key reads a member name. Escaped and non-ASCII names go to the slow path: encoding/json would unescape
// and case-fold them before matching.
func (r *jsonIn) key() []byte {
	if r.slow || r.peek() != '"' {
		r.bail()
		return nil
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			k := r.b[start:r.i]
			r.i++
			return k
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		r.i++
	}
	r.bail()
	return nil
}

// unknown handles a member the event has no field for: encoding/json ignores it, unless it matches a field
// name case-insensitively, which only the slow path resolves.
func (r *jsonIn) unknown(key []byte, fields ...string) {
	for _, f := range fields {
		if asciiEqualFold(key, f) {
			r.bail()
			return
		}
	}
	r.skip()
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// str reads a string; ok is false for null (a field encoding/json leaves alone) and on the slow path. The
// bytes are the input's, or buf's for a string with escapes: use them before reading the next string.
func (r *jsonIn) str() (s []byte, ok bool) {
	if r.slow {
		return nil, false
	}
	switch r.peek() {
	case 'n':
		r.lit("null")
		return nil, false
	case '"':
	default:
		r.bail() // another type: encoding/json reports it
		return nil, false
	}
	r.i++
	start := r.i
	// Most strings are plain: find the closing quote, and if nothing in between needs a closer look, done.
	if end := bytes.IndexByte(r.b[start:], '"'); end >= 0 {
		plain := true
		for _, c := range r.b[start : start+end] {
			if jsonSpecial[c] {
				plain = false
				break
			}
		}
		if plain {
			r.i = start + end + 1
			return r.b[start : start+end], true
		}
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s = r.b[start:r.i]
			r.i++
			return s, true
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			r.bail()
			return nil, false
		case c >= utf8.RuneSelf:
			ch, n := utf8.DecodeRune(r.b[r.i:])
			if ch == utf8.RuneError && n == 1 {
				r.bail() // encoding/json replaces each bad byte with U+FFFD
				return nil, false
			}
			r.i += n
		default:
			r.i++
		}
	}
	r.bail()
	return nil, false
}

// escaped finishes a string with escapes into buf.
func (r *jsonIn) escaped(start int) ([]byte, bool) {
	r.buf = append(r.buf[:0], r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.buf, true
		case c == '\\':
			if r.i+1 >= len(r.b) {
				r.bail()
				return nil, false
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				r.buf = append(r.buf, e)
			case 'b':
				r.buf = append(r.buf, '\b')
			case 'f':
				r.buf = append(r.buf, '\f')
			case 'n':
				r.buf = append(r.buf, '\n')
			case 'r':
				r.buf = append(r.buf, '\r')
			case 't':
				r.buf = append(r.buf, '\t')
			case 'u':
				ch, ok := r.hex4()
				if !ok || (0xD800 <= ch && ch < 0xE000) {
					r.bail() // surrogates pair up or become U+FFFD: the slow path knows how
					return nil, false
				}
				r.buf = utf8.AppendRune(r.buf, ch)
			default:
				r.bail()
				return nil, false
			}
		case c < 0x20:
			r.bail()
			return nil, false
		case c >= utf8.RuneSelf:
			ch, n := utf8.DecodeRune(r.b[r.i:])
			if ch == utf8.RuneError && n == 1 {
				r.bail()
				return nil, false
			}
			r.buf = append(r.buf, r.b[r.i:r.i+n]...)
			r.i += n
		default:
			r.buf = append(r.buf, c)
			r.i++
		}
	}
	r.bail()
	return nil, false
}

func (r *jsonIn) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	r.i += 4
	return v, true
}

// jsonSpecial marks the bytes a string's fast path cannot take as they are: control characters, the
// backslash, and the bytes of multi-byte UTF-8 (which must be checked).
var jsonSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// checkStr reads a string the read model does not keep, so that a value of the wrong type still fails as it
// would in encoding/json.
func (r *jsonIn) checkStr() { r.str() }

// integer reads an integer into an int64 field; ok is false for null. Fractions, exponents and overflow go
// to the slow path (encoding/json refuses them for an int).
func (r *jsonIn) integer() (v int64, ok bool) {
	if r.slow {
		return 0, false
	}
	if r.peek() == 'n' {
		r.lit("null")
		return 0, false
	}
	neg := r.peek() == '-'
	if neg {
		r.i++
	}
	start := r.i
	var u uint64
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		if u > (1<<63)/10 {
			r.bail()
			return 0, false
		}
		u = u*10 + uint64(r.b[r.i]-'0')
		r.i++
	}
	digits := r.i - start
	if digits == 0 || (digits > 1 && r.b[start] == '0') || u > 1<<63 || (u == 1<<63 && !neg) {
		r.bail()
		return 0, false
	}
	if c := r.peek(); c == '.' || c == 'e' || c == 'E' {
		r.bail()
		return 0, false
	}
	if neg {
		return -int64(u), true // -1<<63 wraps to itself
	}
	return int64(u), true
}

// checkInt reads an integer into an int field without keeping it: one that does not fit an int goes to the
// slow path, as encoding/json refuses it.
func (r *jsonIn) checkInt() {
	if v, ok := r.integer(); ok && v != int64(int(v)) {
		r.bail()
	}
}

// arrayOf reads an array (or null, which encoding/json takes as an empty slice), calling elem with the reader
// at each element; elem must read exactly one value.
func (r *jsonIn) arrayOf(elem func()) {
	if r.slow {
		return
	}
	switch r.peek() {
	case 'n':
		r.lit("null")
		return
	case '[':
	default:
		r.bail()
		return
	}
	if r.depth >= maxJSONDepth {
		r.bail()
		return
	}
	r.i++
	r.depth++
	r.ws()
	if r.peek() == ']' {
		r.i++
		r.depth--
		return
	}
	for !r.slow {
		r.ws()
		elem()
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return
		default:
			r.bail()
			return
		}
	}
}

// boolean reads a bool; ok is false for null.
func (r *jsonIn) boolean() (v, ok bool) {
	if r.slow {
		return false, false
	}
	switch r.peek() {
	case 't':
		r.lit("true")
		return true, !r.slow
	case 'f':
		r.lit("false")
		return false, !r.slow
	case 'n':
		r.lit("null")
		return false, false
	}
	r.bail()
	return false, false
}

// time reads a time as time.Time.UnmarshalJSON does, which is what encoding/json calls with the raw value.
func (r *jsonIn) time(t *time.Time) {
	if r.slow {
		return
	}
	if r.peek() == 'n' {
		r.lit("null")
		return
	}
	if r.peek() != '"' {
		r.bail()
		return
	}
	start := r.i
	r.i++
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			r.i++
			if v, ok := parseUTC(r.b[start+1 : r.i-1]); ok {
				*t = v
			} else if err := t.UnmarshalJSON(r.b[start:r.i]); err != nil {
				r.bail()
			}
			return
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		r.i++
	}
	r.bail()
}

// bytesB64 checks a []byte field (standard base64 in a string, as encoding/json writes it) without keeping it.
func (r *jsonIn) bytesB64() {
	s, ok := r.str()
	if !ok {
		return
	}
	if n := base64.StdEncoding.DecodedLen(len(s)); cap(r.seed) < n {
		r.seed = make([]byte, n)
	}
	if _, err := base64.StdEncoding.Decode(r.seed[:cap(r.seed)], s); err != nil {
		r.bail()
	}
}

// skip reads and checks any value.
func (r *jsonIn) skip() {
	if r.slow {
		return
	}
	switch c := r.peek(); {
	case c == '"':
		r.str()
	case c == '{':
		r.object(func([]byte) { r.skip() })
	case c == '[':
		r.array()
	case c == 't':
		r.lit("true")
	case c == 'f':
		r.lit("false")
	case c == 'n':
		r.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		r.number()
	default:
		r.bail()
	}
}

func (r *jsonIn) array() {
	if r.depth >= maxJSONDepth {
		r.bail()
		return
	}
	r.i++ // '['
	r.depth++
	r.ws()
	if r.peek() == ']' {
		r.i++
		r.depth--
		return
	}
	for !r.slow {
		r.ws()
		r.skip()
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return
		default:
			r.bail()
			return
		}
	}
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonIn) number() {
	if r.peek() == '-' {
		r.i++
	}
	switch c := r.peek(); {
	case c == '0':
		r.i++
	case '1' <= c && c <= '9':
		r.digits()
	default:
		r.bail()
		return
	}
	if r.peek() == '.' {
		r.i++
		if r.digits() == 0 {
			r.bail()
			return
		}
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.i++
		if c := r.peek(); c == '+' || c == '-' {
			r.i++
		}
		if r.digits() == 0 {
			r.bail()
		}
	}
}

func (r *jsonIn) digits() int {
	start := r.i
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i - start
}

// parseUTC reads the form encoding/json writes a UTC time in, 2006-01-02T15:04:05[.fraction]Z with 1 to 9
// fraction digits, and gives the time.Time UnmarshalJSON would. Anything else (an offset, a leap second, an
// impossible date) is not ok, and goes to UnmarshalJSON.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		v := 0
		for _, c := range b[from:to] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if rest := b[19 : len(b)-1]; len(rest) > 0 {
		if len(rest) < 2 || len(rest) > 10 || rest[0] != '.' {
			return time.Time{}, false
		}
		frac := num(20, len(b)-1)
		if frac < 0 {
			return time.Time{}, false
		}
		for range 10 - len(rest) {
			frac *= 10
		}
		nsec = frac
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
