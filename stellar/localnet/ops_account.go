package localnet

import (
	"math"
	"slices"

	"github.com/stellar/go-stellar-sdk/xdr"
)

func checkCreateAccount(op decodedOp, o xdr.CreateAccountOp) xdr.OperationResult {
	dest, _, err := accountIDKey(o.Destination)
	if err != nil || o.StartingBalance < 0 || dest == op.source {
		return createAccountResult(xdr.CreateAccountResultCodeCreateAccountMalformed)
	}
	return createAccountResult(xdr.CreateAccountResultCodeCreateAccountSuccess)
}

func (x *applier) createAccount(src *account, o xdr.CreateAccountOp) xdr.OperationResult {
	dest, key, err := accountIDKey(o.Destination)
	if err != nil {
		return createAccountResult(xdr.CreateAccountResultCodeCreateAccountMalformed)
	}
	amt := int64(o.StartingBalance)
	switch {
	case x.view.peek(dest) != nil:
		return createAccountResult(xdr.CreateAccountResultCodeCreateAccountAlreadyExist)
	case amt < 2*baseReserve:
		return createAccountResult(xdr.CreateAccountResultCodeCreateAccountLowReserve)
	case src.available() < amt:
		return createAccountResult(xdr.CreateAccountResultCodeCreateAccountUnderfunded)
	}
	src.balance -= amt
	x.view.create(newAccount(dest, key, amt, x.ledger, x.closeUnix))
	return createAccountResult(xdr.CreateAccountResultCodeCreateAccountSuccess)
}

func checkSetOptions(op decodedOp, o xdr.SetOptionsOp) xdr.OperationResult {
	var set, clr uint32
	if o.SetFlags != nil {
		set = uint32(*o.SetFlags)
	}
	if o.ClearFlags != nil {
		clr = uint32(*o.ClearFlags)
	}
	if set&clr != 0 {
		return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsBadFlags)
	}
	if (set|clr)&^accountFlagsMask != 0 {
		return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsUnknownFlag)
	}
	for _, w := range []*xdr.Uint32{o.MasterWeight, o.LowThreshold, o.MedThreshold, o.HighThreshold} {
		if w != nil && *w > math.MaxUint8 {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsThresholdOutOfRange)
		}
	}
	if s := o.Signer; s != nil {
		if s.Key.Type != xdr.SignerKeyTypeSignerKeyTypeEd25519 || s.Key.Ed25519 == nil {
			return outerResult(xdr.OperationResultCodeOpNotSupported) // only ed25519 signers are implemented
		}
		addr, _, err := encodeKey([32]byte(*s.Key.Ed25519))
		if err != nil || addr == op.source {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsBadSigner)
		}
		if s.Weight > math.MaxUint8 {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsThresholdOutOfRange)
		}
	}
	if o.HomeDomain != nil && !validString(string(*o.HomeDomain)) {
		return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsInvalidHomeDomain)
	}
	return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsSuccess)
}

// setOptions changes flags, home domain, master weight, thresholds and one signer. Everything is checked before
// anything is written.
func (x *applier) setOptions(src *account, o xdr.SetOptionsOp) xdr.OperationResult {
	inflationDest := src.inflationDest
	if o.InflationDest != nil {
		id, _, err := accountIDKey(*o.InflationDest)
		if err != nil || x.view.peek(id) == nil {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsInvalidInflation)
		}
		inflationDest = id
	}
	flags := src.flags
	if o.SetFlags != nil || o.ClearFlags != nil {
		var set, clr uint32
		if o.SetFlags != nil {
			set = uint32(*o.SetFlags)
		}
		if o.ClearFlags != nil {
			clr = uint32(*o.ClearFlags)
		}
		if src.flags&accountAuthImmutable != 0 && (set|clr) != 0 {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsCantChange)
		}
		flags = flags&^clr | set
		if flags&accountAuthClawback != 0 && flags&accountAuthRevocable == 0 {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsAuthRevocableRequired)
		}
	}
	signers := src.signers
	if s := o.Signer; s != nil {
		if s.Key.Ed25519 == nil {
			return outerResult(xdr.OperationResultCodeOpNotSupported)
		}
		addr, key, err := encodeKey([32]byte(*s.Key.Ed25519))
		if err != nil {
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsBadSigner)
		}
		i, found := src.signerIndex(addr)
		signers = slices.Clone(src.signers)
		switch {
		case s.Weight == 0 && found:
			signers = slices.Delete(signers, i, i+1)
		case s.Weight == 0: // removing an absent signer changes nothing
		case found:
			signers[i].weight = uint8(s.Weight)
		case len(signers) >= maxSigners:
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsTooManySigners)
		case src.subentries() >= maxSubentries:
			return outerResult(xdr.OperationResultCodeOpTooManySubentries)
		case src.balance < src.minBalance(1):
			return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsLowReserve)
		default:
			signers = slices.Insert(signers, i, signer{address: addr, key: key, weight: uint8(s.Weight)})
		}
	}
	src.inflationDest, src.flags, src.signers = inflationDest, flags, signers
	if o.HomeDomain != nil {
		src.homeDomain = string(*o.HomeDomain)
	}
	if o.MasterWeight != nil {
		src.masterWeight = uint8(*o.MasterWeight)
	}
	for i, t := range []*xdr.Uint32{o.LowThreshold, o.MedThreshold, o.HighThreshold} {
		if t != nil {
			src.thresholds[i] = uint8(*t)
		}
	}
	return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsSuccess)
}

func checkManageData(o xdr.ManageDataOp) xdr.OperationResult {
	if name := string(o.DataName); name == "" || !validString(name) {
		return manageDataResult(xdr.ManageDataResultCodeManageDataInvalidName)
	}
	return manageDataResult(xdr.ManageDataResultCodeManageDataSuccess)
}

// manageData sets, replaces or (no value) deletes a data entry; a new entry is a subentry and needs reserve.
func (x *applier) manageData(src *account, o xdr.ManageDataOp) xdr.OperationResult {
	name := string(o.DataName)
	_, exists := src.data[name]
	switch {
	case o.DataValue == nil && !exists:
		return manageDataResult(xdr.ManageDataResultCodeManageDataNameNotFound)
	case o.DataValue == nil:
		delete(src.data, name)
	case exists:
		src.data[name] = slices.Clone([]byte(*o.DataValue))
	case src.subentries() >= maxSubentries:
		return outerResult(xdr.OperationResultCodeOpTooManySubentries)
	case src.balance < src.minBalance(1):
		return manageDataResult(xdr.ManageDataResultCodeManageDataLowReserve)
	default:
		src.data[name] = slices.Clone([]byte(*o.DataValue))
	}
	return manageDataResult(xdr.ManageDataResultCodeManageDataSuccess)
}

func checkBumpSequence(o xdr.BumpSequenceOp) xdr.OperationResult {
	if o.BumpTo < 0 {
		return bumpSequenceResult(xdr.BumpSequenceResultCodeBumpSequenceBadSeq)
	}
	return bumpSequenceResult(xdr.BumpSequenceResultCodeBumpSequenceSuccess)
}

func (x *applier) bumpSequence(src *account, o xdr.BumpSequenceOp) xdr.OperationResult {
	if to := int64(o.BumpTo); to > src.seq {
		src.seq, src.seqLedger, src.seqTime = to, x.ledger, x.closeUnix
	}
	return bumpSequenceResult(xdr.BumpSequenceResultCodeBumpSequenceSuccess)
}
