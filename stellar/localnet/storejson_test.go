package localnet

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// The hand-written encoders must write exactly what encoding/json writes, so that the stored format (and the
// load path, which still uses encoding/json) stays as it was.

// awkwardStrings exercise encoding/json's escaping: quotes, backslashes, control characters, HTML characters,
// non-ASCII, invalid UTF-8 and the JavaScript line separators.
var awkwardStrings = []string{
	"", "plain", `quo"te`, `back\slash`, "new\nline\ttab\r\b\f\x00\x1f", "<script>&amp;</script>", "a&b", "a>b", "a<b",
	"naïve ✓ 日本", "bad \xff\xfe utf-8", "\u2028\u2029", "\x7f del", "GABC DEF",
}

func checkSameJSON(t *testing.T, what string, v any, got []byte) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: encoding/json: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func TestStoreJSONMatchesEncodingJSON(t *testing.T) {
	w := &jsonWriter{}
	closed := time.Date(2026, 11, 23, 13, 26, 19, 0, time.UTC)
	nanos := time.Date(2026, 1, 2, 3, 4, 5, 6007, time.FixedZone("", 3*3600+30*60))

	ledgers := []ledgerRecord{
		{Seq: 1, Hash: "ab", ClosedAt: closed, TotalCoins: rootStartingBalance},
		{Seq: 7, Hash: "cd", PrevHash: "ab", ClosedAt: nanos, SuccessfulTx: 3, FailedTx: -1, OpCount: 100,
			TxSetOpCount: 101, TotalCoins: -5, FeePool: 1 << 62},
	}
	for _, l := range ledgers {
		got, err := w.appendLedger(nil, &l)
		if err != nil {
			t.Fatal(err)
		}
		checkSameJSON(t, "ledger", &l, got)
	}

	minT, maxT := uint64(0), uint64(1<<63+5)
	txs := []txRecord{
		{ID: 1 << 40, Hash: "h", Ledger: 9, ClosedAt: closed, Source: "GA", Seq: -3, MaxFee: 200, FeeCharged: 100,
			OpCount: 2, Successful: true, Envelope: "AAAA+/==", Result: "AAB=", MemoType: "none"},
		{ID: 5, Hash: "h2", ClosedAt: nanos, MemoType: "text", Memo: "x", MemoBytes: "eA==", Signatures: []string{},
			MinTime: &minT, MaxTime: &maxT, Participants: []string{}},
		{Signatures: []string{"s1", "s2"}, Participants: []string{"GA", "GB"}, MaxTime: &maxT},
	}
	for _, s := range awkwardStrings {
		txs = append(txs, txRecord{Hash: s, Source: s, Envelope: s, Result: s, MemoType: s, Memo: s, MemoBytes: s,
			Signatures: []string{s, s}, Participants: []string{s}, ClosedAt: closed})
	}
	for _, tx := range txs {
		got, err := w.appendTx(nil, &tx)
		if err != nil {
			t.Fatal(err)
		}
		checkSameJSON(t, "transaction", &tx, got)
	}

	ops := []opRecord{
		{ID: 1, TxHash: "h", Type: 1, Source: "GA", Successful: true, ClosedAt: closed, From: "GA", To: "GB",
			Amount: 7, AssetCode: "EUAH", AssetIssuer: "GI", Participants: []string{"GA", "GB"}, Payment: true},
		{ID: -1, Type: 10, ClosedAt: nanos, Amount: -9},
		{Participants: []string{}},
	}
	for _, s := range awkwardStrings {
		ops = append(ops, opRecord{TxHash: s, Source: s, From: s, To: s, AssetCode: s, AssetIssuer: s,
			Participants: []string{s, s}})
	}
	for _, o := range ops {
		got, err := w.appendOp(nil, &o)
		if err != nil {
			t.Fatal(err)
		}
		checkSameJSON(t, "operation", &o, got)
	}

	accounts := []accountRecord{
		{ID: "GA", Balance: 1, Seq: 2 << 32, SeqLedger: 2, SeqTime: 1700000000, MasterWeight: 1, LastModified: 2},
		{ID: "GB", Balance: -1, Flags: 15, MasterWeight: 255, Thresholds: [3]uint8{1, 2, 255},
			Signers:    []signerRecord{{Key: "GC", Weight: 2}, {Key: "GD", Weight: 0}},
			Lines:      []lineRecord{{Code: "EUAH", Issuer: "GI", Balance: 5, Limit: 1 << 62, Flags: 5, LastModified: 9}, {}},
			Data:       map[string][]byte{"payment_guid": []byte("8b7a"), "": {}, "nil": nil, "bin": {0, 1, 0xff}, "b": []byte("x")},
			HomeDomain: "kazna.example", InflationDest: "GZ", LastModified: 3},
		{Signers: []signerRecord{}, Lines: []lineRecord{}, Data: map[string][]byte{}},
	}
	for _, s := range awkwardStrings {
		accounts = append(accounts, accountRecord{ID: s, HomeDomain: s, InflationDest: s,
			Signers: []signerRecord{{Key: s}}, Lines: []lineRecord{{Code: s, Issuer: s}},
			Data: map[string][]byte{s: []byte(s), s + "2": nil}})
	}
	for _, r := range accounts {
		checkSameJSON(t, "account", &r, appendAccount(nil, &r))
	}

	// Like time.Time's MarshalJSON, the encoders refuse a year that RFC 3339 cannot write.
	bad := ledgerRecord{ClosedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := w.appendLedger(nil, &bad); err == nil {
		t.Error("a ledger closed in the year 10000 was encoded")
	}
}

// TestJSONWriterKeepsValues checks that values handed to the database stay intact while later records are
// appended, however often the buffer grows.
func TestJSONWriterKeepsValues(t *testing.T) {
	w := &jsonWriter{}
	var values [][]byte
	var want []string
	for i := range 200 {
		o := opRecord{ID: int64(i), TxHash: "hash", Participants: []string{"GA"}}
		raw, err := w.record(func(b []byte) ([]byte, error) { return w.appendOp(b, &o) })
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(raw))
		values = append(values, raw)
		if cap(raw) != len(raw) {
			t.Fatalf("value %d has room to grow into the next one", i)
		}
	}
	for i, v := range values {
		if string(v) != want[i] {
			t.Fatalf("value %d changed: %s", i, v)
		}
	}
}
