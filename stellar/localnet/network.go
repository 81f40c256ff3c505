package localnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
)

// DefaultPassphrase is the network passphrase used when Config.Passphrase is empty. Transactions signed for it
// are worthless anywhere else, which is the point.
const DefaultPassphrase = "Kazna Local Development Network ; November 2026"

// Config configures Open.
type Config struct {
	Dir           string        // data directory; "" = memory only
	Passphrase    string        // "" = DefaultPassphrase
	CloseInterval time.Duration // 0 = a ledger closes at every submission; > 0 = ledgers close on this timer
	Logger        *slog.Logger  // nil = discard
}

// maxQueuedTxs bounds the transactions waiting for the next timed ledger (stellar-core's max_tx_set_size is of
// the same order); further submissions are refused with 503 until the ledger closes.
const maxQueuedTxs = 1000

var (
	errClosed    = errors.New("localnet: the network is closed")
	errQueueFull = errors.New("localnet: too many transactions are waiting for the next ledger")
	errTimeout   = errors.New("localnet: the transaction's ledger did not close in time")
)

// Network is an embedded development network. All methods are safe for concurrent use.
type Network struct {
	passphrase string
	interval   time.Duration
	log        *slog.Logger
	root       *keypair.Full
	store      *store // nil when memory only
	handler    http.Handler

	mu        sync.RWMutex
	accounts  map[string]*account
	hist      *history
	dirty     map[string]struct{}   // accounts changed since the last closed ledger
	queue     []*pendingTx          // timer mode: transactions waiting for the next ledger, in arrival order
	queued    map[string]*pendingTx // queue by transaction hash
	queuedSeq map[string]int64      // highest queued sequence number per source account
	closed    bool
	// broken is set when a closed ledger could not be persisted: memory is then ahead of disk, so the network
	// refuses further transactions rather than pretend they are durable.
	broken error

	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open creates the network, or reopens the one stored in cfg.Dir. A new network has a single root account
// funded with 100,000,000,000 XLM, whose seed is stored with the ledger so that it survives restarts.
func Open(cfg Config) (*Network, error) {
	if cfg.CloseInterval < 0 {
		return nil, fmt.Errorf("localnet: negative close interval %s", cfg.CloseInterval)
	}
	n := &Network{
		passphrase: cfg.Passphrase, interval: cfg.CloseInterval, log: cfg.Logger,
		dirty: map[string]struct{}{}, queued: map[string]*pendingTx{}, queuedSeq: map[string]int64{},
	}
	if n.passphrase == "" {
		n.passphrase = DefaultPassphrase
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if err := n.load(cfg.Dir); err != nil {
		if n.store != nil {
			err = errors.Join(err, n.store.close())
		}
		return nil, err
	}
	n.handler = n.routes()
	// Log before the timer starts: once it runs, the ledger history is its to change (under the network's lock).
	n.log.Info("localnet open", "dir", cfg.Dir, "ledger", n.hist.latest().Seq, "root", n.root.Address(),
		"close_interval", n.interval)
	if n.interval > 0 {
		n.stop, n.stopped = make(chan struct{}), make(chan struct{})
		go n.closeOnTimer()
	}
	return n, nil
}

// load reads the stored network, or creates the genesis ledger when there is none.
func (n *Network) load(dir string) error {
	if dir != "" {
		s, err := openStore(dir)
		if err != nil {
			return err
		}
		n.store = s
		snap, err := s.load()
		if err != nil {
			return err
		}
		if snap != nil {
			if snap.passphrase != n.passphrase {
				return fmt.Errorf("localnet: %s holds a network with passphrase %q, not %q", dir, snap.passphrase, n.passphrase)
			}
			n.root, n.accounts, n.hist = snap.root, snap.accounts, snap.hist
			return nil
		}
	}
	return n.genesis()
}

// genesis creates ledger 1 holding only the root account.
func (n *Network) genesis() error {
	root, err := keypair.Random()
	if err != nil {
		return fmt.Errorf("localnet: root key: %w", err)
	}
	key, err := parseAddress(root.Address())
	if err != nil {
		return fmt.Errorf("localnet: root key: %w", err)
	}
	closedAt := time.Now().UTC().Truncate(time.Second)
	a := newAccount(root.Address(), key, rootStartingBalance, 1, closedAt.Unix())
	l := ledgerRecord{Seq: 1, ClosedAt: closedAt, TotalCoins: rootStartingBalance}
	l.Hash = ledgerHash(&l, "", nil)
	if n.store != nil {
		if err := n.store.commit(&l, []*account{a}, nil, nil, map[string]string{
			metaRootSeed: root.Seed(), metaPassphrase: n.passphrase,
		}); err != nil {
			return err
		}
	}
	n.root = root
	n.accounts = map[string]*account{a.id: a}
	n.hist = newHistory()
	n.hist.ledgers = append(n.hist.ledgers, l)
	return nil
}

// Handler serves the Horizon-compatible HTTP API.
func (n *Network) Handler() http.Handler { return n.handler }

// Passphrase is the network passphrase transactions must be signed for.
func (n *Network) Passphrase() string { return n.passphrase }

// Root is the funded root account; it plays friendbot's role.
func (n *Network) Root() *keypair.Full { return n.root }

// CloseLedger closes a ledger now, applying whatever is queued, and returns its sequence. After Close, or once
// the network has failed to persist a ledger, it closes nothing and returns the last sequence.
func (n *Network) CloseLedger() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.broken != nil {
		return n.hist.latest().Seq
	}
	return n.closeLedgerLocked(time.Now())
}

// Close stops the timer, applies any queued transactions in a last ledger, and closes the database. Afterwards
// the handler still answers reads from memory but refuses submissions with 503. Close reports a ledger that
// could not be persisted.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		if n.stop != nil {
			close(n.stop)
			<-n.stopped
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if len(n.queue) > 0 && n.broken == nil {
			n.closeLedgerLocked(time.Now())
		}
		for _, p := range n.queue { // only when broken: answer the waiters rather than let them time out
			p.out = outcome{err: n.broken}
			close(p.done)
		}
		n.queue = nil
		n.closed = true
		n.closeErr = n.broken
		if n.store != nil {
			n.closeErr = errors.Join(n.closeErr, n.store.close())
		}
	})
	return n.closeErr
}

func (n *Network) closeOnTimer() {
	defer close(n.stopped)
	t := time.NewTicker(n.interval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.CloseLedger()
		}
	}
}
