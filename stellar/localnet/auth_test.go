package localnet

import (
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// preverify must record exactly what validation would find: a good signature by a source's master key as
// valid, a forged one (right hint, wrong bytes) as invalid, and nothing for signatures by other keys, which
// validation still verifies itself.
func TestPreverify(t *testing.T) {
	kps := randomKeys(t, 4)
	src, opSrc, other, dest := kps[0], kps[1], kps[2], kps[3]
	op := paymentOp(t, dest.Address(), 1)
	opSource, err := xdr.AddressToMuxedAccount(opSrc.Address())
	if err != nil {
		t.Fatal(err)
	}
	op.SourceAccount = &opSource
	b64 := rawEnvelope(t, DefaultPassphrase, src, 1, 200, []xdr.Operation{op, paymentOp(t, dest.Address(), 2)}, src, opSrc, other)
	tx, rej := decodeTx(b64, DefaultPassphrase)
	if rej != nil {
		t.Fatal(rej.code)
	}
	tx.sigs[1].Signature = append([]byte(nil), tx.sigs[1].Signature...)
	tx.sigs[1].Signature[0] ^= 1 // forge opSrc's signature
	tx.preverify()
	key := func(kp *keypair.Full) [32]byte {
		k, err := parseAddress(kp.Address())
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	want := map[verifyKey]bool{{0, key(src)}: true, {1, key(opSrc)}: false}
	if len(tx.verified) != len(want) {
		t.Fatalf("verified %v, want %v", tx.verified, want)
	}
	for k, v := range want {
		if got, ok := tx.verified[k]; !ok || got != v {
			t.Errorf("signature %d: verified %v (recorded %v), want %v", k.sig, got, ok, v)
		}
	}
	// The checker takes the recorded results and verifies the rest itself.
	sc := newSigChecker(tx.hash, tx.sigs, tx.verified)
	if !sc.valid(0, tx.sigs[0], key(src)) || sc.valid(1, tx.sigs[1], key(opSrc)) || !sc.valid(2, tx.sigs[2], key(other)) {
		t.Fatal("checker disagrees with the signatures")
	}
}

// A forged signature with the source's hint is refused at submission exactly as before pre-verification.
func TestForgedSignatureRefused(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 2)
	src, dest := kps[0], kps[1]
	h.fund("10", src, dest)
	seq := h.account(src.Address()).Sequence
	b64 := rawEnvelope(t, h.n.Passphrase(), src, seq+1, 100, []xdr.Operation{paymentOp(t, dest.Address(), 1)}, src)
	var env xdr.TransactionEnvelope
	if err := xdr.SafeUnmarshalBase64(b64, &env); err != nil {
		t.Fatal(err)
	}
	env.V1.Signatures[0].Signature[5] ^= 0x40
	forged, err := xdr.MarshalBase64(env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.hc.SubmitTransactionXDR(forged)
	expectCodes(t, err, "tx_bad_auth")
	if _, err := h.hc.SubmitTransactionXDR(b64); err != nil {
		t.Fatalf("the genuine envelope: %v", err)
	}
}
