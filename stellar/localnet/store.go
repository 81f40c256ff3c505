package localnet

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	bolt "go.etcd.io/bbolt"
)

// The database holds one bucket per kind of record. Ledgers, transactions and operations are keyed by their
// big-endian paging token, so a cursor walks them in history order; accounts are keyed by address.
var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketLedgers  = []byte("ledgers")
	bucketTxs      = []byte("transactions")
	bucketOps      = []byte("operations")
)

const (
	metaRootSeed   = "root_seed"
	metaPassphrase = "passphrase"
	metaSchema     = "schema"
	schemaVersion  = "1"
)

type store struct {
	db *bolt.DB
	w  jsonWriter // used only inside a writable transaction
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localnet: data directory: %w", err)
	}
	// The timeout turns a second process opening the same directory into an error instead of a hang.
	db, err := bolt.Open(filepath.Join(dir, "localnet.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("localnet: open database: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketLedgers, bucketTxs, bucketOps} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("localnet: create buckets: %w", err), db.Close())
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

func idKey(id int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	return k[:]
}

// commit writes one closed ledger: its header, the accounts it changed, its transactions and operations, and
// optional meta entries, atomically.
func (s *store) commit(l *ledgerRecord, accounts []*account, txs []*txRecord, ops []*opRecord, meta map[string]string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		// bbolt runs one writable transaction at a time, so the writer's buffer is never shared; it is reused
		// only once the previous transaction, which held on to its values, has ended.
		w := &s.w
		w.reset()
		if len(meta) > 0 {
			mb := tx.Bucket(bucketMeta)
			meta[metaSchema] = schemaVersion
			for k, v := range meta {
				if err := mb.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		raw, err := w.record(func(b []byte) ([]byte, error) { return w.appendLedger(b, l) })
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketLedgers).Put(idKey(l.pagingToken()), raw); err != nil {
			return err
		}
		ab := tx.Bucket(bucketAccounts)
		for _, a := range accounts {
			r := recordOf(a)
			raw, _ := w.record(func(b []byte) ([]byte, error) { return appendAccount(b, &r), nil })
			if err := ab.Put([]byte(a.id), raw); err != nil {
				return err
			}
		}
		tb := tx.Bucket(bucketTxs)
		tb.FillPercent = 0.9 // keys only ever grow, so pages can be packed
		for _, t := range txs {
			raw, err := w.record(func(b []byte) ([]byte, error) { return w.appendTx(b, t) })
			if err != nil {
				return err
			}
			if err := tb.Put(idKey(t.ID), raw); err != nil {
				return err
			}
		}
		ob := tx.Bucket(bucketOps)
		ob.FillPercent = 0.9
		for _, o := range ops {
			raw, err := w.record(func(b []byte) ([]byte, error) { return w.appendOp(b, o) })
			if err != nil {
				return err
			}
			if err := ob.Put(idKey(o.ID), raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("localnet: persist ledger %d: %w", l.Seq, err)
	}
	return nil
}

// snapshot is the network as stored.
type snapshot struct {
	passphrase string
	root       *keypair.Full
	accounts   map[string]*account
	hist       *history
}

// load reads the whole network back; it returns nil for an empty database.
func (s *store) load() (*snapshot, error) {
	snap := &snapshot{accounts: map[string]*account{}, hist: newHistory()}
	err := s.db.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		seed := mb.Get([]byte(metaRootSeed))
		if seed == nil {
			snap = nil
			return nil
		}
		if v := string(mb.Get([]byte(metaSchema))); v != schemaVersion {
			return fmt.Errorf("unknown schema version %q", v)
		}
		root, err := keypair.ParseFull(string(seed))
		if err != nil {
			return fmt.Errorf("root seed: %w", err)
		}
		snap.root, snap.passphrase = root, string(mb.Get([]byte(metaPassphrase)))
		err = tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			var r accountRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("account %s: %w", k, err)
			}
			a, err := r.account()
			if err != nil {
				return fmt.Errorf("account %s: %w", k, err)
			}
			snap.accounts[a.id] = a
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketLedgers).ForEach(func(k, v []byte) error {
			var l ledgerRecord
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
			if int(l.Seq) != len(snap.hist.ledgers)+1 {
				return fmt.Errorf("ledger %d follows ledger %d", l.Seq, len(snap.hist.ledgers))
			}
			snap.hist.ledgers = append(snap.hist.ledgers, l)
			return nil
		})
		if err != nil {
			return err
		}
		if len(snap.hist.ledgers) == 0 {
			return errors.New("no ledgers")
		}
		err = tx.Bucket(bucketTxs).ForEach(func(k, v []byte) error {
			var t txRecord
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("transaction: %w", err)
			}
			snap.hist.addTx(&t)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketOps).ForEach(func(k, v []byte) error {
			var o opRecord
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("operation: %w", err)
			}
			snap.hist.addOp(&o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("localnet: load database: %w", err)
	}
	if snap != nil && snap.accounts[snap.root.Address()] == nil {
		return nil, errors.New("localnet: load database: the root account is missing")
	}
	return snap, nil
}

// accountRecord is the stored form of an account.
type accountRecord struct {
	ID            string            `json:"id"`
	Balance       int64             `json:"balance"`
	Seq           int64             `json:"seq"`
	SeqLedger     uint32            `json:"seq_ledger"`
	SeqTime       int64             `json:"seq_time"`
	Flags         uint32            `json:"flags"`
	MasterWeight  uint8             `json:"master_weight"`
	Thresholds    [3]uint8          `json:"thresholds"`
	Signers       []signerRecord    `json:"signers,omitempty"`
	Lines         []lineRecord      `json:"lines,omitempty"`
	Data          map[string][]byte `json:"data,omitempty"`
	HomeDomain    string            `json:"home_domain,omitempty"`
	InflationDest string            `json:"inflation_dest,omitempty"`
	LastModified  uint32            `json:"last_modified"`
}

type signerRecord struct {
	Key    string `json:"key"`
	Weight uint8  `json:"weight"`
}

type lineRecord struct {
	Code         string `json:"code"`
	Issuer       string `json:"issuer"`
	Balance      int64  `json:"balance"`
	Limit        int64  `json:"limit"`
	Flags        uint32 `json:"flags"`
	LastModified uint32 `json:"last_modified"`
}

func recordOf(a *account) accountRecord {
	r := accountRecord{
		ID: a.id, Balance: a.balance, Seq: a.seq, SeqLedger: a.seqLedger, SeqTime: a.seqTime, Flags: a.flags,
		MasterWeight: a.masterWeight, Thresholds: a.thresholds, Data: a.data, HomeDomain: a.homeDomain,
		InflationDest: a.inflationDest, LastModified: a.lastModified,
	}
	for _, s := range a.signers {
		r.Signers = append(r.Signers, signerRecord{Key: s.address, Weight: s.weight})
	}
	for k, t := range a.lines {
		r.Lines = append(r.Lines, lineRecord{Code: k.Code, Issuer: k.Issuer, Balance: t.balance, Limit: t.limit,
			Flags: t.flags, LastModified: t.lastModified})
	}
	sort.Slice(r.Lines, func(i, j int) bool {
		return r.Lines[i].Code+r.Lines[i].Issuer < r.Lines[j].Code+r.Lines[j].Issuer
	})
	return r
}

func (r accountRecord) account() (*account, error) {
	key, err := parseAddress(r.ID)
	if err != nil {
		return nil, err
	}
	a := &account{
		id: r.ID, key: key, balance: r.Balance, seq: r.Seq, seqLedger: r.SeqLedger, seqTime: r.SeqTime,
		flags: r.Flags, masterWeight: r.MasterWeight, thresholds: r.Thresholds, homeDomain: r.HomeDomain,
		inflationDest: r.InflationDest, lastModified: r.LastModified,
		lines: make(map[assetKey]*trustline, len(r.Lines)), data: r.Data,
	}
	if a.data == nil {
		a.data = map[string][]byte{}
	}
	for _, s := range r.Signers {
		k, err := parseAddress(s.Key)
		if err != nil {
			return nil, fmt.Errorf("signer: %w", err)
		}
		a.signers = append(a.signers, signer{address: s.Key, key: k, weight: s.Weight})
	}
	sort.Slice(a.signers, func(i, j int) bool { return a.signers[i].address < a.signers[j].address })
	for _, l := range r.Lines {
		a.lines[assetKey{Code: l.Code, Issuer: l.Issuer}] = &trustline{balance: l.Balance, limit: l.Limit,
			flags: l.Flags, lastModified: l.LastModified}
	}
	return a, nil
}
