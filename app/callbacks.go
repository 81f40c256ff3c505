package app

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// The callback dispatcher is the process manager of bank notifications (guide §12). It follows the log for
// settled payments and for its own delivery logs, and for each notice a settled payment owes (callback.Owed)
// posts {"transaction_id": "<payment guid>"} to {callback_url}/api/dcm/notify/{pay-in|pay-out|transfer} of the
// bank, signed with the bank's secret (callback.Sign), until the bank answers 2xx or the policy gives up.
//
// Every attempt is recorded on the payment's delivery log (callback.LogStream) before the next one is planned,
// and the plan is made from the log alone: a notice's next attempt is due Policy.Pause(n) after its n-th.
// After a restart the dispatcher therefore resumes exactly the notices that are neither delivered nor
// abandoned, on the same schedule, and never sends a delivered one again. Delivery is at least once: a
// notice whose answer came but whose record was lost (a crash between the two) is sent again, so a bank
// must treat a repeated transaction_id of the same kind as one notice.
//
// Only payments settled within Policy.MaxAge are followed up when the dispatcher starts; older ones are past
// their window (and, on the first start after an upgrade, were settled before callbacks existed). A bank
// without a callback_url is not notified: nothing is written, the skip is logged and counted.

// CallbackStore is what the callbacks need of the event store.
type CallbackStore interface {
	command.Store
	SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// CallbackDirectory finds a bank and its callback_url (projections.Counterparties).
type CallbackDirectory interface {
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
}

// Defaults and bounds of CallbackConfig.
const (
	DefaultCallbackWorkers = 16
	DefaultCallbackPerBank = 4
	DefaultCallbackTimeout = 10 * time.Second
	maxCallbackWorkers     = 1024
	maxCallbackTimeout     = time.Minute
	// callbackResponseBytes is what is read of a bank's answer; the start of a refusal goes in the log.
	callbackResponseBytes = 4 << 10
	callbackSnippetRunes  = 200
	// callbackRedirects bounds the redirects followed, all on the bank's own host.
	callbackRedirects = 3
	// callbackRecordTimeout bounds the write of an attempt's outcome, which goes on while the dispatcher
	// stops: an answer received must not be forgotten for want of a few milliseconds.
	callbackRecordTimeout = 10 * time.Second
	// Resubscription after the log subscription drops: pauses doubling between the two, and the drops in a
	// row without progress after which Run gives up.
	callbackResubscribeMin = 100 * time.Millisecond
	callbackResubscribeMax = 5 * time.Second
	callbackMaxDrops       = 10
	callbackActor          = "kazna callbacks"
	callbackUserAgent      = "Kazna-Callbacks/1"
)

// CallbackConfig tunes the dispatcher; the zero value takes the defaults.
type CallbackConfig struct {
	// Policy is the retry schedule and its bounds (callback.Policy; zero fields take its defaults).
	Policy callback.Policy
	// Workers bounds the notices sent at once (default 16).
	Workers int
	// PerBank bounds the notices sent at once to one bank, so that a slow bank cannot hold every worker
	// (default 4, at most Workers).
	PerBank int
	// Timeout bounds one request to a bank, connection and answer included (default 10 s, at most 1 min).
	Timeout time.Duration
}

// CallbackDeps is what NewCallbacks needs.
type CallbackDeps struct {
	Store     CallbackStore
	Vault     Sealer
	Directory CallbackDirectory
	Config    CallbackConfig
	// Ready, if set, is waited for before the log is followed: the read model Directory answers from must
	// have caught up (projections.Runner.WaitCaughtUp), or a bank would look as if it had no callback_url.
	Ready func(ctx context.Context) error
	// Transport carries the requests; nil is a clone of http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
	Now       func() time.Time
}

// CallbackStats counts what the dispatcher did since it started.
type CallbackStats struct {
	Delivered      int64 // notices a bank took (2xx)
	FailedAttempts int64 // attempts that did not deliver
	Abandoned      int64 // notices given up
	Skipped        int64 // notices not sent: the bank has no callback_url
	// Pending is the notices owed now. A notice leaves it when the dispatcher reads its final write back
	// from the log, a moment after the counters above move.
	Pending int
}

// Callbacks runs bank notifications: the dispatcher (Run), the banks' signing secrets and the delivery logs
// as the API shows them.
type Callbacks struct {
	d       CallbackDeps
	policy  callback.Policy
	workers int
	perBank int
	client  *http.Client
	log     *slog.Logger
	ran     atomic.Bool

	// mu guards what follows; it is never held while calling the store, the network or the directory.
	mu      sync.Mutex
	owed    map[noticeKey]*owedNotice
	queue   dueQueue
	blocked map[string][]dueEntry // due notices waiting for a free slot of their bank
	sending map[string]int        // notices being sent, by bank
	seen    eventstore.Position   // the last event applied from the log
	live    bool                  // caught up with the log: notices may be sent
	wake    chan struct{}

	delivered, failed, abandoned, skipped atomic.Int64
}

// noticeKey names one notice of one payment.
type noticeKey struct {
	payment string
	notice  callback.Notice
}

// owedNotice is what the log says about a notice that is neither delivered nor abandoned.
type owedNotice struct {
	progress callback.Progress
	// deadline is the settlement's time plus MaxAge; zero for a notice known only from its own log, whose
	// payment settled before the window this dispatcher follows.
	deadline time.Time
	// busy: a worker has it, or its write (await) has not come back on the log yet.
	busy  bool
	await eventstore.Position
	// retryAt delays the next attempt after an error that the log does not show (the record failed).
	retryAt time.Time
	// due is when it is queued for; a queue entry with another due is stale.
	due time.Time
}

// NewCallbacks checks deps and fills defaults.
func NewCallbacks(d CallbackDeps) (*Callbacks, error) {
	if d.Store == nil || d.Vault == nil || d.Directory == nil {
		return nil, errors.New("app: callbacks need the event store, the vault and the counterparty directory")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg := d.Config
	policy := cfg.Policy.WithDefaults()
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("app: callbacks: %w", err)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultCallbackWorkers
	}
	if cfg.PerBank == 0 {
		cfg.PerBank = min(DefaultCallbackPerBank, cfg.Workers)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultCallbackTimeout
	}
	switch {
	case cfg.Workers < 1 || cfg.Workers > maxCallbackWorkers:
		return nil, fmt.Errorf("app: callbacks: %d workers, want 1 to %d", cfg.Workers, maxCallbackWorkers)
	case cfg.PerBank < 1 || cfg.PerBank > cfg.Workers:
		return nil, fmt.Errorf("app: callbacks: %d per bank, want 1 to the %d workers", cfg.PerBank, cfg.Workers)
	case cfg.Timeout < 0 || cfg.Timeout > maxCallbackTimeout:
		return nil, fmt.Errorf("app: callbacks: timeout %v, want up to %v", cfg.Timeout, maxCallbackTimeout)
	}
	transport := d.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.PerBank
		transport = t
	}
	return &Callbacks{d: d, policy: policy, workers: cfg.Workers, perBank: cfg.PerBank,
		client: &http.Client{Transport: transport, Timeout: cfg.Timeout, CheckRedirect: sameHostRedirect},
		log:    d.Logger.With("component", "callbacks"),
		owed:   map[noticeKey]*owedNotice{}, blocked: map[string][]dueEntry{}, sending: map[string]int{},
		wake: make(chan struct{}, 1)}, nil
}

// sameHostRedirect follows a redirect only on the host of the first request and only when it keeps the method
// and body (307, 308): a notice is never carried to another host, nor turned into a GET that drops it.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	first := via[0]
	switch {
	case len(via) > callbackRedirects:
		return fmt.Errorf("more than %d redirects", callbackRedirects)
	case req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host:
		return errors.New("a redirect to another host is not followed")
	case req.Method != first.Method:
		return errors.New("a redirect that drops the body (301, 302, 303) is not followed; use 307 or 308")
	}
	return nil
}

func (c *Callbacks) now() time.Time { return c.d.Now().UTC() }

// Stats reports the dispatcher's counters.
func (c *Callbacks) Stats() CallbackStats {
	c.mu.Lock()
	pending := len(c.owed)
	c.mu.Unlock()
	return CallbackStats{Delivered: c.delivered.Load(), FailedAttempts: c.failed.Load(), Abandoned: c.abandoned.Load(),
		Skipped: c.skipped.Load(), Pending: pending}
}

// callbackFilter selects settlements and delivery logs (not the secrets).
var callbackFilter = eventstore.Filter{EventTypePrefixes: []string{"PaymentSettled", "CallbackAttempted", "CallbackDelivered", "CallbackAbandoned"}}

// Run follows the log and sends the notices owed until ctx ends; then it waits for the requests under way
// (their outcome is still recorded) and returns nil. It returns an error if Ready fails or the log stays
// unreadable. Run may be called once.
func (c *Callbacks) Run(ctx context.Context) error {
	if c.ran.Swap(true) {
		return errors.New("app: callbacks: Run called twice")
	}
	if c.d.Ready != nil {
		if err := c.d.Ready(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("app: callbacks: wait for the read models: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan callbackJob)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() { c.work(ctx, jobs) })
	}
	wg.Go(func() { c.dispatch(ctx, jobs) })
	err := c.follow(ctx)
	cancel()
	wg.Wait()
	return err
}

// follow reads the log, resubscribing after the last event applied when the subscription drops.
func (c *Callbacks) follow(ctx context.Context) error {
	from := eventstore.StartPosition
	drops, pause := 0, callbackResubscribeMin
	for {
		progressed, last, err := c.followOnce(ctx, from)
		from = last
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			drops, pause = 0, callbackResubscribeMin
		}
		if drops++; drops > callbackMaxDrops {
			return fmt.Errorf("app: callbacks: gave up following the log after %d drops: %w", drops, err)
		}
		c.log.Warn("callbacks: log subscription dropped; resuming", "after", from.String(), "in", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		pause = min(2*pause, callbackResubscribeMax)
	}
}

// followOnce runs one subscription after from until it fails; last is where the next one resumes.
func (c *Callbacks) followOnce(ctx context.Context, from eventstore.Position) (progressed bool, last eventstore.Position, err error) {
	last = from
	sub, err := c.d.Store.SubscribeAll(ctx, from, callbackFilter)
	if err != nil {
		return false, last, err
	}
	defer sub.Close()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return progressed, last, err
		}
		switch m.Kind {
		case eventstore.EventAppeared:
			if m.Event == nil || !last.Less(m.Event.Position) {
				continue // the port promises each event once, in order
			}
			if err := c.observe(ctx, m.Event); err != nil {
				return progressed, last, err // resume at this event; an event that keeps failing is no progress
			}
			last, progressed = m.Event.Position, true
		case eventstore.CaughtUp:
			c.caughtUp()
			progressed = true
		}
	}
}

// observe folds one event into the notices owed. An error (the payment could not be read) leaves the event
// unapplied, to be read again.
func (c *Callbacks) observe(ctx context.Context, ev *eventstore.RecordedEvent) error {
	if ev.Type == "PaymentSettled" {
		return c.settled(ctx, ev)
	}
	e, err := callback.Events.Decode(ev.Type, ev.Data)
	if err != nil {
		c.log.Error("callbacks: undecodable delivery log event", "stream", ev.Stream, "type", ev.Type, "err", err)
		c.applied(ev.Position)
		return nil
	}
	pay, n := callback.NoticeOf(e)
	k := noticeKey{payment: pay, notice: n}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = ev.Position
	o := c.owed[k]
	if o == nil {
		o = &owedNotice{}
	}
	o.progress = o.progress.Apply(e)
	if o.progress.Final() {
		delete(c.owed, k)
		return nil
	}
	c.owed[k] = o
	if o.busy && o.await != (eventstore.Position{}) && !ev.Position.Less(o.await) {
		o.busy, o.await = false, eventstore.Position{} // our own write is back: plan the next attempt
	}
	if !o.busy {
		c.enqueue(k, o)
	}
	return nil
}

func (c *Callbacks) applied(pos eventstore.Position) {
	c.mu.Lock()
	c.seen = pos
	c.mu.Unlock()
}

// settled records the notices a payment settled within the window owes.
func (c *Callbacks) settled(ctx context.Context, ev *eventstore.RecordedEvent) error {
	e, err := payment.Events.Decode(ev.Type, ev.Data)
	s, ok := e.(payment.PaymentSettled)
	if err != nil || !ok {
		c.log.Error("callbacks: undecodable settlement", "stream", ev.Stream, "err", err)
		c.applied(ev.Position)
		return nil
	}
	deadline := s.At.Add(c.policy.MaxAge)
	if !deadline.After(c.now()) {
		c.applied(ev.Position) // past its window: see the comment at the top
		return nil
	}
	created, err := c.paymentCreated(ctx, s.GUID)
	if errors.Is(err, errUnreadablePayment) {
		c.log.Error("callbacks: a settled payment cannot be read; no notice sent", "payment", s.GUID, "err", err)
		c.applied(ev.Position)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read payment %s: %w", s.GUID, err) // the store: read it again
	}
	owed := callback.Owed(created)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = ev.Position
	for _, n := range owed {
		k := noticeKey{payment: s.GUID, notice: n}
		o := c.owed[k]
		if o == nil {
			o = &owedNotice{}
			c.owed[k] = o
		}
		o.deadline = deadline
		if !o.busy {
			c.enqueue(k, o)
		}
	}
	return nil
}

// errUnreadablePayment is a payment whose stream does not start with a PaymentCreated that decodes: reading
// it again will not help.
var errUnreadablePayment = errors.New("app: unreadable payment")

// paymentCreated reads the payment's first event. An error matching errUnreadablePayment is final: there is no
// such payment (it also matches payment.ErrNotFound) or its first event is not a PaymentCreated; any other is
// the store's.
func (c *Callbacks) paymentCreated(ctx context.Context, guid string) (payment.PaymentCreated, error) {
	id, err := uuid.Parse(guid)
	if err != nil {
		return payment.PaymentCreated{}, fmt.Errorf("%w: guid %q: %w", errUnreadablePayment, guid, payment.ErrNotFound)
	}
	recs, err := c.d.Store.ReadStream(ctx, payment.Stream(id), eventstore.Forwards, 0, 1)
	switch {
	case errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(recs) == 0):
		return payment.PaymentCreated{}, fmt.Errorf("%w: %w", errUnreadablePayment, payment.ErrNotFound)
	case err != nil:
		return payment.PaymentCreated{}, err
	}
	e, err := payment.Events.Decode(recs[0].Type, recs[0].Data)
	created, ok := e.(payment.PaymentCreated)
	if err != nil || !ok {
		return payment.PaymentCreated{}, fmt.Errorf("%w: the stream starts with %s: %v", errUnreadablePayment, recs[0].Type, err)
	}
	return created, nil
}

// caughtUp starts sending: the log has been read up to now, so every notice's progress is known.
func (c *Callbacks) caughtUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live {
		return
	}
	c.live = true
	for k, o := range c.owed {
		if !o.busy {
			c.enqueue(k, o)
		}
	}
	if len(c.owed) > 0 {
		c.log.Info("callbacks: resuming notices owed", "notices", len(c.owed))
	}
}

// enqueue plans o's next step: at once for a first attempt, Pause(n) after the n-th, not before retryAt.
// Called with mu held; before the log is caught up it only records o.
func (c *Callbacks) enqueue(k noticeKey, o *owedNotice) {
	if !c.live {
		return
	}
	var due time.Time
	if n := o.progress.Attempts; n > 0 {
		due = o.progress.LastAt.Add(c.policy.Pause(n))
	}
	if o.retryAt.After(due) {
		due = o.retryAt
	}
	o.due = due
	heap.Push(&c.queue, dueEntry{due: due, key: k})
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// callbackJob is one notice handed to a worker, with the progress it was planned on.
type callbackJob struct {
	key      noticeKey
	o        *owedNotice
	progress callback.Progress
	deadline time.Time
}

// dispatch hands due notices to the workers, at most PerBank at once per bank.
func (c *Callbacks) dispatch(ctx context.Context, jobs chan<- callbackJob) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		j, ok, wait := c.next(c.now())
		if ok {
			select {
			case jobs <- j:
				continue
			case <-ctx.Done():
				return
			}
		}
		if wait <= 0 {
			wait = time.Hour // nothing queued: sleep until woken
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// next takes the first due notice whose bank has a free slot and marks it busy, or says how long until the
// first queued one is due (0: none queued).
func (c *Callbacks) next(now time.Time) (callbackJob, bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.queue.Len() > 0 {
		top := c.queue[0]
		if top.due.After(now) {
			return callbackJob{}, false, top.due.Sub(now)
		}
		heap.Pop(&c.queue)
		o := c.owed[top.key]
		if o == nil || o.busy || !o.due.Equal(top.due) {
			continue // stale: done, taken, or planned again since
		}
		bank := top.key.notice.Counterparty
		if c.sending[bank] >= c.perBank {
			c.blocked[bank] = append(c.blocked[bank], top)
			continue
		}
		o.busy = true
		c.sending[bank]++
		return callbackJob{key: top.key, o: o, progress: o.progress, deadline: o.deadline}, true, 0
	}
	return callbackJob{}, false, 0
}

func (c *Callbacks) work(ctx context.Context, jobs <-chan callbackJob) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			c.finish(j, c.deliver(ctx, j))
		}
	}
}

// outcome is what a worker did with a notice.
type outcome struct {
	drop    bool                // nothing more to do, and nothing written
	await   eventstore.Position // a write to see on the log before planning again
	retryAt time.Time           // nothing written: try again then
}

// finish frees the bank's slot and plans the notice's next step.
func (c *Callbacks) finish(j callbackJob, out outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bank := j.key.notice.Counterparty
	if c.sending[bank]--; c.sending[bank] <= 0 {
		delete(c.sending, bank)
	}
	c.unblock(bank)
	o := c.owed[j.key]
	if o != j.o {
		return // the log closed it while the worker ran
	}
	switch {
	case out.drop:
		delete(c.owed, j.key)
	case out.await != (eventstore.Position{}) && c.seen.Less(out.await):
		o.await = out.await // observe plans it when the write comes back
	default:
		o.busy, o.await, o.retryAt = false, eventstore.Position{}, out.retryAt
		c.enqueue(j.key, o)
	}
}

// unblock queues again the first notice of bank that waits for a slot and is still current.
func (c *Callbacks) unblock(bank string) {
	list := c.blocked[bank]
	for len(list) > 0 {
		e := list[0]
		list = list[1:]
		if o := c.owed[e.key]; o != nil && !o.busy && o.due.Equal(e.due) {
			heap.Push(&c.queue, e)
			select {
			case c.wake <- struct{}{}:
			default:
			}
			break
		}
	}
	if len(list) == 0 {
		delete(c.blocked, bank)
	} else {
		c.blocked[bank] = list
	}
}

// deliver takes the notice's next step: send it and record the attempt, or give it up.
func (c *Callbacks) deliver(ctx context.Context, j callbackJob) outcome {
	n, p := j.key.notice, j.progress
	bank, known := c.d.Directory.Counterparty(ctx, n.Counterparty)
	now := c.now()
	switch {
	case bank.CallbackURL == "" && p.Attempts == 0:
		c.skipped.Add(1)
		if !known {
			c.log.Warn("callbacks: the bank is not in the directory; no notice sent", "payment", j.key.payment, "kind", n.Kind, "counterparty", n.Counterparty)
		} else {
			c.log.Info("callbacks: the bank has no callback_url; no notice sent", "payment", j.key.payment, "kind", n.Kind, "counterparty", n.Counterparty)
		}
		return outcome{drop: true}
	case bank.CallbackURL == "":
		return c.abandon(ctx, j, "the bank no longer has a callback_url")
	case !j.deadline.After(now):
		return c.abandon(ctx, j, fmt.Sprintf("not delivered within %v of the settlement", c.policy.MaxAge))
	case p.Attempts >= c.policy.MaxAttempts:
		return c.abandon(ctx, j, fmt.Sprintf("no success in %d attempts", p.Attempts))
	}
	target, err := notifyURL(bank.CallbackURL, n.Kind)
	if err != nil {
		return c.abandon(ctx, j, "the bank's callback_url is not usable: "+err.Error())
	}
	status, errText, answered := c.send(ctx, target, j.key.payment, n.Counterparty)
	if !answered && ctx.Err() != nil {
		return outcome{} // stopping: the notice is sent again after the restart
	}
	// The answer came: record it even while stopping.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackRecordTimeout)
	defer cancel()
	cmd := callback.RecordAttempt{Payment: j.key.payment, Notice: n, URL: target, Attempt: p.Attempts + 1, Status: status,
		Error: errText, At: c.now(), Policy: c.policy, Deadline: j.deadline}
	res, err := command.Handle(rctx, c.d.Store, callback.LogStream(uuid.MustParse(j.key.payment)), callback.Decider, callback.Events, any(cmd), c.env(j.key))
	if err != nil {
		return c.writeFailed(rctx, j, "record the attempt", err)
	}
	for _, e := range res.Events {
		switch e := e.(type) {
		case callback.CallbackDelivered:
			c.delivered.Add(1)
			c.log.Debug("callbacks: notice delivered", "payment", j.key.payment, "kind", n.Kind, "counterparty", n.Counterparty, "attempt", e.Attempt)
		case callback.CallbackAbandoned:
			c.abandoned.Add(1)
			c.log.Warn("callbacks: notice abandoned", "payment", j.key.payment, "kind", n.Kind, "counterparty", n.Counterparty, "attempts", e.Attempts, "reason", e.Reason)
		case callback.CallbackAttempted:
			if !callback.Succeeded(e.Status) {
				c.failed.Add(1)
				c.log.Info("callbacks: notice not delivered", "payment", j.key.payment, "kind", n.Kind, "counterparty", n.Counterparty,
					"attempt", e.Attempt, "status", e.Status, "error", e.Error)
			}
		}
	}
	return outcome{await: res.Position}
}

// abandon records that the notice is given up without another attempt.
func (c *Callbacks) abandon(ctx context.Context, j callbackJob, reason string) outcome {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackRecordTimeout)
	defer cancel()
	cmd := callback.Abandon{Payment: j.key.payment, Notice: j.key.notice, Reason: cleanText(reason, callback.MaxReasonRunes), At: c.now()}
	res, err := command.Handle(rctx, c.d.Store, callback.LogStream(uuid.MustParse(j.key.payment)), callback.Decider, callback.Events, any(cmd), c.env(j.key))
	if err != nil {
		return c.writeFailed(rctx, j, "record the abandonment", err)
	}
	c.abandoned.Add(1)
	c.log.Warn("callbacks: notice abandoned", "payment", j.key.payment, "kind", j.key.notice.Kind, "counterparty", j.key.notice.Counterparty,
		"attempts", j.progress.Attempts, "reason", cmd.Reason)
	return outcome{await: res.Position}
}

// writeFailed handles a write to the delivery log that did not happen. If another writer moved the log first
// (a second dispatcher), the notice waits for the log to show that writer's events; otherwise it is tried
// again after a pause.
func (c *Callbacks) writeFailed(ctx context.Context, j callbackJob, what string, err error) outcome {
	if errors.Is(err, callback.ErrOutOfOrder) || errors.Is(err, callback.ErrFinal) {
		pos, perr := lastPosition(ctx, c.d.Store, callback.LogStream(uuid.MustParse(j.key.payment)))
		if perr == nil && pos != (eventstore.Position{}) {
			return outcome{await: pos}
		}
	}
	c.log.Error("callbacks: "+what+" failed; trying again later", "payment", j.key.payment, "kind", j.key.notice.Kind,
		"counterparty", j.key.notice.Counterparty, "err", err)
	return outcome{retryAt: c.now().Add(c.policy.Pause(max(1, j.progress.Attempts+1)))}
}

func (c *Callbacks) env(k noticeKey) command.Envelope {
	return command.Envelope{Metadata: eventstore.Metadata{Actor: callbackActor, Counterparty: k.notice.Counterparty,
		CorrelationID: k.payment, Time: c.now()}}
}

// notifyURL is where a notice of kind goes: the guide's path under the bank's callback_url (its query kept).
func notifyURL(base string, kind callback.Kind) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL")
	}
	u.Path = strings.TrimRight(u.Path, "/") + kind.Path()
	u.RawPath = ""
	return u.String(), nil
}

// notifyBody is the guide's body of every notice.
type notifyBody struct {
	TransactionID string `json:"transaction_id"`
}

// send posts one notice. answered is false when no HTTP answer came; errText says what went wrong (with the
// start of the bank's answer for a refusal).
func (c *Callbacks) send(ctx context.Context, target, paymentGUID, bank string) (status int, errText string, answered bool) {
	body, err := json.Marshal(notifyBody{TransactionID: paymentGUID})
	if err != nil {
		return 0, "could not encode the notice", false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, "the callback URL is not usable", false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", callbackUserAgent)
	secret, err := c.secret(ctx, bank)
	if err != nil {
		// Never send unsigned when the bank set a secret: it would refuse the notice anyway.
		c.log.Error("callbacks: the bank's callback secret cannot be opened", "counterparty", bank, "err", err)
		return 0, "the callback signing secret cannot be opened; the notice was not sent", false
	}
	if secret != nil {
		req.Header.Set(callback.SignatureHeader, callback.Sign(secret, c.now(), body))
		clear(secret)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, cleanText(err.Error(), callback.MaxErrorRunes), false
	}
	defer resp.Body.Close()
	start, _ := io.ReadAll(io.LimitReader(resp.Body, callbackResponseBytes))
	if callback.Succeeded(resp.StatusCode) {
		return resp.StatusCode, "", true
	}
	msg := "HTTP " + strconv.Itoa(resp.StatusCode)
	if s := cleanText(string(start), callbackSnippetRunes); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, cleanText(msg, callback.MaxErrorRunes), true
}

// secret opens the bank's current callback secret; nil when it has none.
func (c *Callbacks) secret(ctx context.Context, bank string) ([]byte, error) {
	id, err := uuid.Parse(bank)
	if err != nil {
		return nil, err
	}
	recs, err := c.d.Store.ReadStream(ctx, callback.SecretStream(id), eventstore.Backwards, eventstore.StreamEnd, 1)
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(recs) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e, err := callback.SecretEvents.Decode(recs[0].Type, recs[0].Data)
	if err != nil {
		return nil, err
	}
	var sealed []byte
	switch e := e.(type) {
	case callback.CallbackSecretSet:
		sealed = e.SealedSecret
	case callback.CallbackSecretResealed:
		sealed = e.SealedSecret
	}
	return c.d.Vault.OpenPlatformKey(callback.SecretOwner(bank), sealed)
}

// cleanText makes a text fit a log field: valid UTF-8, control characters as spaces, space collapsed, at most
// maxRunes characters.
func cleanText(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes-1]) + "…"
	}
	return s
}

// RotateCallbackSecret sets a new signing secret for the bank's notices (the first one, or a rotation) and
// returns it: the only time it is shown. The same Idempotency-Key and body answer the same secret again, so
// that a reply lost on the way does not lose the secret.
func (c *Callbacks) RotateCallbackSecret(ctx context.Context, r Request, cp uuid.UUID) ([]byte, eventstore.Position, error) {
	if _, ok := c.d.Directory.Counterparty(ctx, cp.String()); !ok {
		return nil, eventstore.Position{}, counterparty.ErrNotFound
	}
	secret := make([]byte, callback.SecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, eventstore.Position{}, fmt.Errorf("app: callback secret: %w", err)
	}
	owner := callback.SecretOwner(cp.String())
	sealed, err := c.d.Vault.SealPlatformKey(owner, secret)
	if err != nil {
		clear(secret)
		return nil, eventstore.Position{}, fmt.Errorf("app: seal the callback secret: %w", err)
	}
	env := command.Envelope{Metadata: eventstore.Metadata{Actor: r.Actor, Counterparty: cp.String(), Time: c.now()},
		IdempotencyKey: r.IdempotencyKey, Fingerprint: r.Fingerprint}
	cmd := callback.SetSecret{Counterparty: cp, SealedSecret: sealed, At: c.now()}
	res, err := command.Handle(ctx, c.d.Store, callback.SecretStream(cp), callback.SecretDecider, callback.SecretEvents, any(cmd), env)
	if err != nil {
		clear(secret)
		return nil, eventstore.Position{}, err
	}
	if res.Replayed {
		clear(secret)
		for _, e := range res.Events {
			if set, ok := e.(callback.CallbackSecretSet); ok {
				if secret, err = c.d.Vault.OpenPlatformKey(owner, set.SealedSecret); err != nil {
					return nil, eventstore.Position{}, fmt.Errorf("app: open the callback secret: %w", err)
				}
				return secret, res.Position, nil
			}
		}
		return nil, eventstore.Position{}, errors.New("app: the replayed request set no callback secret")
	}
	c.log.Info("callbacks: signing secret set", "counterparty", cp.String(), "by", r.Actor)
	return secret, res.Position, nil
}

// CallbackEntry is one line of a payment's delivery log as a bank sees it: an attempt (Delivered when the bank
// took it), or the abandonment of a notice (Abandoned, Attempt the attempts made, Error the reason).
type CallbackEntry struct {
	Kind         callback.Kind
	Counterparty string
	URL          string
	Attempt      int
	Status       int
	Error        string
	Delivered    bool
	Abandoned    bool
	At           time.Time
}

// maxCallbackLogEvents bounds the read of one delivery log: two notices, each at most MaxAttemptsLimit
// attempts and their outcome.
const maxCallbackLogEvents = 2 * (callback.MaxAttemptsLimit + 1)

// PaymentCallbacks is the delivery log of payment pay as bank cp sees it: the notices sent to cp only.
// payment.ErrNotFound when the payment does not exist or is not cp's (as sender's or receiver's bank).
func (c *Callbacks) PaymentCallbacks(ctx context.Context, cp, pay uuid.UUID) ([]CallbackEntry, error) {
	created, err := c.paymentCreated(ctx, pay.String())
	if err != nil {
		return nil, err
	}
	bank := cp.String()
	if created.Sender.CounterpartyGUID != bank && created.Receiver.CounterpartyGUID != bank {
		return nil, payment.ErrNotFound
	}
	recs, err := c.d.Store.ReadStream(ctx, callback.LogStream(pay), eventstore.Forwards, 0, maxCallbackLogEvents)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return []CallbackEntry{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []CallbackEntry{}
	attempts := map[noticeKey]map[int]int{} // notice → attempt → index in out
	for _, rec := range recs {
		e, err := callback.Events.Decode(rec.Type, rec.Data)
		if err != nil {
			return nil, fmt.Errorf("app: delivery log of %s at %d: %w", pay, rec.Revision, err)
		}
		_, n := callback.NoticeOf(e)
		if n.Counterparty != bank {
			continue
		}
		k := noticeKey{notice: n}
		switch e := e.(type) {
		case callback.CallbackAttempted:
			if attempts[k] == nil {
				attempts[k] = map[int]int{}
			}
			attempts[k][e.Attempt] = len(out)
			out = append(out, CallbackEntry{Kind: e.Kind, Counterparty: e.Counterparty, URL: e.URL, Attempt: e.Attempt,
				Status: e.Status, Error: e.Error, At: e.At})
		case callback.CallbackDelivered:
			if i, ok := attempts[k][e.Attempt]; ok {
				out[i].Delivered = true
			}
		case callback.CallbackAbandoned:
			out = append(out, CallbackEntry{Kind: e.Kind, Counterparty: e.Counterparty, Attempt: e.Attempts, Error: e.Reason,
				Abandoned: true, At: e.At})
		}
	}
	return out, nil
}

// dueEntry is a notice queued for its next step at due.
type dueEntry struct {
	due time.Time
	key noticeKey
}

// dueQueue is a min-heap of dueEntry by due.
type dueQueue []dueEntry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
