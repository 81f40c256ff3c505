package localnet

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// The stored records are JSON. Persisting a ledger of a hundred operations through encoding/json spends most of
// its encoding time in reflection, all of it under the ledger lock, so the records are appended by hand here
// instead, byte for byte as encoding/json writes them (TestStoreJSONMatchesEncodingJSON): the stored format, and
// load, are unchanged.

// jsonWriter appends records to one buffer. It caches the last time it formatted, since every record of a
// ledger carries the same close time.
type jsonWriter struct {
	buf      []byte
	lastTime time.Time
	lastJSON []byte
}

// record runs add on the buffer and returns what it appended, capped so that later appends can never write
// into it: bbolt keeps the value until its transaction ends.
func (w *jsonWriter) record(add func(b []byte) ([]byte, error)) ([]byte, error) {
	start := len(w.buf)
	b, err := add(w.buf)
	if err != nil {
		w.buf = w.buf[:start]
		return nil, err
	}
	w.buf = b
	return b[start:len(b):len(b)], nil
}

// reset empties the buffer for the next database transaction, keeping its memory.
func (w *jsonWriter) reset() { w.buf = w.buf[:0] }

// jsonSafe reports whether encoding/json writes s unchanged between quotes: printable ASCII without the quote,
// the backslash and the characters it escapes for HTML.
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func appendJSONString(b []byte, s string) []byte {
	if jsonSafe(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	// Escapes, Unicode and invalid UTF-8 are rare here (memos, home domains, data names): leave them to
	// encoding/json, which cannot fail on a string.
	raw, _ := json.Marshal(s)
	return append(b, raw...)
}

func appendJSONBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendJSONStrings writes a slice as encoding/json does: nil is null.
func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendTime writes t as time.Time's MarshalJSON does, including its errors (a year outside 0…9999).
func (w *jsonWriter) appendTime(b []byte, t time.Time) ([]byte, error) {
	if w.lastJSON == nil || t != w.lastTime {
		raw, err := t.MarshalJSON()
		if err != nil {
			return nil, err
		}
		w.lastTime, w.lastJSON = t, raw
	}
	return append(b, w.lastJSON...), nil
}

func (w *jsonWriter) appendLedger(b []byte, l *ledgerRecord) ([]byte, error) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, uint64(l.Seq), 10)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, l.Hash)
	if l.PrevHash != "" {
		b = append(b, `,"prev_hash":`...)
		b = appendJSONString(b, l.PrevHash)
	}
	b = append(b, `,"closed_at":`...)
	b, err := w.appendTime(b, l.ClosedAt)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"successful_tx":`...)
	b = strconv.AppendInt(b, int64(l.SuccessfulTx), 10)
	b = append(b, `,"failed_tx":`...)
	b = strconv.AppendInt(b, int64(l.FailedTx), 10)
	b = append(b, `,"op_count":`...)
	b = strconv.AppendInt(b, int64(l.OpCount), 10)
	b = append(b, `,"tx_set_ops":`...)
	b = strconv.AppendInt(b, int64(l.TxSetOpCount), 10)
	b = append(b, `,"total_coins":`...)
	b = strconv.AppendInt(b, l.TotalCoins, 10)
	b = append(b, `,"fee_pool":`...)
	b = strconv.AppendInt(b, l.FeePool, 10)
	return append(b, '}'), nil
}

func (w *jsonWriter) appendTx(b []byte, t *txRecord) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, t.ID, 10)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, t.Hash)
	b = append(b, `,"ledger":`...)
	b = strconv.AppendUint(b, uint64(t.Ledger), 10)
	b = append(b, `,"closed_at":`...)
	b, err := w.appendTime(b, t.ClosedAt)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"source":`...)
	b = appendJSONString(b, t.Source)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, t.Seq, 10)
	b = append(b, `,"max_fee":`...)
	b = strconv.AppendInt(b, t.MaxFee, 10)
	b = append(b, `,"fee_charged":`...)
	b = strconv.AppendInt(b, t.FeeCharged, 10)
	b = append(b, `,"op_count":`...)
	b = strconv.AppendInt(b, int64(t.OpCount), 10)
	b = append(b, `,"successful":`...)
	b = appendJSONBool(b, t.Successful)
	b = append(b, `,"envelope_xdr":`...)
	b = appendJSONString(b, t.Envelope)
	b = append(b, `,"result_xdr":`...)
	b = appendJSONString(b, t.Result)
	b = append(b, `,"memo_type":`...)
	b = appendJSONString(b, t.MemoType)
	if t.Memo != "" {
		b = append(b, `,"memo":`...)
		b = appendJSONString(b, t.Memo)
	}
	if t.MemoBytes != "" {
		b = append(b, `,"memo_bytes":`...)
		b = appendJSONString(b, t.MemoBytes)
	}
	b = append(b, `,"signatures":`...)
	b = appendJSONStrings(b, t.Signatures)
	if t.MinTime != nil {
		b = append(b, `,"min_time":`...)
		b = strconv.AppendUint(b, *t.MinTime, 10)
	}
	if t.MaxTime != nil {
		b = append(b, `,"max_time":`...)
		b = strconv.AppendUint(b, *t.MaxTime, 10)
	}
	b = append(b, `,"participants":`...)
	b = appendJSONStrings(b, t.Participants)
	return append(b, '}'), nil
}

func (w *jsonWriter) appendOp(b []byte, o *opRecord) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, o.ID, 10)
	b = append(b, `,"tx_hash":`...)
	b = appendJSONString(b, o.TxHash)
	b = append(b, `,"type":`...)
	b = strconv.AppendInt(b, int64(o.Type), 10)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, o.Source)
	b = append(b, `,"successful":`...)
	b = appendJSONBool(b, o.Successful)
	b = append(b, `,"closed_at":`...)
	b, err := w.appendTime(b, o.ClosedAt)
	if err != nil {
		return nil, err
	}
	if o.From != "" {
		b = append(b, `,"from":`...)
		b = appendJSONString(b, o.From)
	}
	if o.To != "" {
		b = append(b, `,"to":`...)
		b = appendJSONString(b, o.To)
	}
	if o.Amount != 0 {
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, o.Amount, 10)
	}
	if o.AssetCode != "" {
		b = append(b, `,"asset_code":`...)
		b = appendJSONString(b, o.AssetCode)
	}
	if o.AssetIssuer != "" {
		b = append(b, `,"asset_issuer":`...)
		b = appendJSONString(b, o.AssetIssuer)
	}
	b = append(b, `,"participants":`...)
	b = appendJSONStrings(b, o.Participants)
	b = append(b, `,"payment":`...)
	b = appendJSONBool(b, o.Payment)
	return append(b, '}'), nil
}

func appendAccount(b []byte, r *accountRecord) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"balance":`...)
	b = strconv.AppendInt(b, r.Balance, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, r.Seq, 10)
	b = append(b, `,"seq_ledger":`...)
	b = strconv.AppendUint(b, uint64(r.SeqLedger), 10)
	b = append(b, `,"seq_time":`...)
	b = strconv.AppendInt(b, r.SeqTime, 10)
	b = append(b, `,"flags":`...)
	b = strconv.AppendUint(b, uint64(r.Flags), 10)
	b = append(b, `,"master_weight":`...)
	b = strconv.AppendUint(b, uint64(r.MasterWeight), 10)
	b = append(b, `,"thresholds":[`...)
	for i, t := range r.Thresholds {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(t), 10)
	}
	b = append(b, ']')
	if len(r.Signers) > 0 {
		b = append(b, `,"signers":[`...)
		for i, s := range r.Signers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = appendJSONString(b, s.Key)
			b = append(b, `,"weight":`...)
			b = strconv.AppendUint(b, uint64(s.Weight), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Lines) > 0 {
		b = append(b, `,"lines":[`...)
		for i, l := range r.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			b = appendJSONString(b, l.Code)
			b = append(b, `,"issuer":`...)
			b = appendJSONString(b, l.Issuer)
			b = append(b, `,"balance":`...)
			b = strconv.AppendInt(b, l.Balance, 10)
			b = append(b, `,"limit":`...)
			b = strconv.AppendInt(b, l.Limit, 10)
			b = append(b, `,"flags":`...)
			b = strconv.AppendUint(b, uint64(l.Flags), 10)
			b = append(b, `,"last_modified":`...)
			b = strconv.AppendUint(b, uint64(l.LastModified), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Data) > 0 {
		b = append(b, `,"data":{`...)
		names := make([]string, 0, len(r.Data))
		for k := range r.Data {
			names = append(names, k)
		}
		slices.Sort(names) // encoding/json sorts map keys
		for i, k := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			if v := r.Data[k]; v == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, '"')
				b = base64.StdEncoding.AppendEncode(b, v)
				b = append(b, '"')
			}
		}
		b = append(b, '}')
	}
	if r.HomeDomain != "" {
		b = append(b, `,"home_domain":`...)
		b = appendJSONString(b, r.HomeDomain)
	}
	if r.InflationDest != "" {
		b = append(b, `,"inflation_dest":`...)
		b = appendJSONString(b, r.InflationDest)
	}
	b = append(b, `,"last_modified":`...)
	b = strconv.AppendUint(b, uint64(r.LastModified), 10)
	return append(b, '}')
}
