package projections_test

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// The payments benchmarks apply the events of KAZNA_BENCH_PAYMENTS payments (default 1,000,000) between the
// accounts of 20 banks, generated in memory as the log would hold them: the events of each payment follow
// its creation by seconds, interleaved with the other payments' as in the live log. The data are a pure
// function of the payment count.
//
// Banks are of unequal size (bank k has weight 1/(k+1): the largest, which the list benchmark queries, holds
// ~28% of the accounts). A payment is between two customers (a fifth of them of another bank), processing →
// customer (salaries), customer → processing, processing → processing of two banks, or an issue (issuer →
// emission account). 5% stay drafts, 4% are cancelled, the rest are confirmed; of those 4% fail and the
// others settle in Stellar transactions of 50 payments, but for the last few, which stay pending. One
// payment in a hundred is created up to 10 s before the previous one (clocks of concurrent writers).

func benchPaymentCount() int {
	if v, err := strconv.Atoi(os.Getenv("KAZNA_BENCH_PAYMENTS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

const (
	benchPayBanks     = 20
	benchPayCustomers = 200_000 // customer accounts over all banks
	benchPayBranches  = 10      // per bank, each with a processing account
	benchPayCats      = 12
	benchPayBatch     = 50 // payments per Stellar transaction
)

var benchPayStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// benchPayGen generates the log of the benchmark, a chunk at a time.
type benchPayGen struct {
	r         *rand.Rand
	n, next   int
	step      time.Duration
	clock     time.Time
	banks     []string
	weights   []float64 // cumulative
	branches  [][]string
	proc      []payment.Party   // per bank
	emission  []payment.Party   // per bank
	branchPro [][]payment.Party // per bank, per branch
	customers [][]payment.Party // per bank
	cats      []string
	purposes  []string
	later     benchPayQueue
	settled   int
	ledger    int32
	hash      string
}

type benchPayLater struct {
	at time.Time
	e  payment.Event
}

type benchPayQueue []benchPayLater

func (q benchPayQueue) Len() int           { return len(q) }
func (q benchPayQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q benchPayQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *benchPayQueue) Push(x any)        { *q = append(*q, x.(benchPayLater)) }
func (q *benchPayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func benchPayGUID(r *rand.Rand) string {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(r.Uint32())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

func newBenchPayGen(n int) *benchPayGen {
	r := rand.New(rand.NewPCG(0x6b617a6e61, 6))
	g := &benchPayGen{r: r, n: n, step: 30 * 24 * time.Hour / time.Duration(n), clock: benchPayStart}
	total := 0.0
	for k := range benchPayBanks {
		total += 1 / float64(k+1)
	}
	acc := 0.0
	addr := func() string { return "G" + fmt.Sprintf("%055X", r.Uint64())[:55] }
	for k := range benchPayBanks {
		bank := benchPayGUID(r)
		g.banks = append(g.banks, bank)
		acc += 1 / float64(k+1) / total
		g.weights = append(g.weights, acc)
		g.proc = append(g.proc, payment.Party{AccountGUID: benchPayGUID(r), Kind: payment.KindProcessing, CounterpartyGUID: bank, Address: addr()})
		g.emission = append(g.emission, payment.Party{AccountGUID: benchPayGUID(r), Kind: payment.KindEmission, CounterpartyGUID: bank, Address: addr()})
		var brs []string
		var bps []payment.Party
		for range benchPayBranches {
			br := benchPayGUID(r)
			brs = append(brs, br)
			bps = append(bps, payment.Party{AccountGUID: benchPayGUID(r), Kind: payment.KindProcessing, CounterpartyGUID: bank, Address: addr(), BranchGUID: br})
		}
		g.branches, g.branchPro = append(g.branches, brs), append(g.branchPro, bps)
		var custs []payment.Party
		for i := range int(float64(benchPayCustomers) / float64(k+1) / total) {
			c := payment.Party{AccountGUID: benchPayGUID(r), Kind: payment.KindCustomer, CounterpartyGUID: bank, Address: addr(),
				IBAN: fmt.Sprintf("UA%02d3223130000%015d", k, i), CustomerGUID: benchPayGUID(r)}
			if r.IntN(10) < 6 {
				c.BranchGUID = brs[r.IntN(len(brs))]
			}
			custs = append(custs, c)
		}
		g.customers = append(g.customers, custs)
	}
	for range benchPayCats {
		g.cats = append(g.cats, benchPayGUID(r))
	}
	for i := range 500 {
		g.purposes = append(g.purposes, fmt.Sprintf("Invoice %d, services of %s", 10_000+i*37, []string{"January", "February", "March"}[i%3]))
	}
	return g
}

func (g *benchPayGen) bank() int {
	x := g.r.Float64()
	for k, w := range g.weights {
		if x < w {
			return k
		}
	}
	return len(g.weights) - 1
}

func (g *benchPayGen) customer(k int) payment.Party {
	return g.customers[k][g.r.IntN(len(g.customers[k]))]
}

// chunk appends the events up to the creation of about max more payments; done when all are created.
func (g *benchPayGen) chunk(dst []payment.Event, max int) (_ []payment.Event, done bool) {
	end := min(g.n, g.next+max)
	for ; g.next < end; g.next++ {
		g.clock = g.clock.Add(g.step)
		at := g.clock
		if g.r.IntN(100) == 0 {
			at = at.Add(-time.Duration(g.r.IntN(10_000)) * time.Millisecond)
		}
		for g.later.Len() > 0 && !g.later[0].at.After(at) {
			dst = append(dst, g.due(heap.Pop(&g.later).(benchPayLater)))
		}
		dst = append(dst, g.payment(at))
	}
	if g.next == g.n {
		// The tail: what is due within a minute of the last creation happens; the rest stays in flight.
		for g.later.Len() > 0 && g.later[0].at.Before(g.clock.Add(time.Minute)) {
			dst = append(dst, g.due(heap.Pop(&g.later).(benchPayLater)))
		}
		return dst, true
	}
	return dst, false
}

// due fills in a settlement's transaction: payments settle in the order they come due, fifty at a time.
func (g *benchPayGen) due(l benchPayLater) payment.Event {
	e := payWithTime(l.e, l.at)
	if s, ok := e.(payment.PaymentSettled); ok {
		if g.settled%benchPayBatch == 0 {
			g.ledger++
			g.hash = fmt.Sprintf("%016x%016x%016x%016x", g.r.Uint64(), g.r.Uint64(), g.r.Uint64(), g.r.Uint64())
		}
		g.settled++
		s.Hash, s.Ledger = g.hash, g.ledger
		return s
	}
	return e
}

func (g *benchPayGen) payment(at time.Time) payment.PaymentCreated {
	r := g.r
	k := g.bank()
	c := payment.PaymentCreated{GUID: benchPayGUID(r), CounterpartyGUID: g.banks[k], AssetCode: "eUAH", AssetIssuer: benchIssuer,
		Amount: int64(math.Exp(math.Log(100) + r.Float64()*math.Log(10_000))), CreatedBy: "employee-" + strconv.Itoa(r.IntN(40)), At: at}
	switch n := r.IntN(100); {
	case n < 60:
		c.Sender, c.Receiver = g.customer(k), g.customer(k)
		if r.IntN(5) == 0 {
			c.Receiver = g.customer(g.bank())
		}
	case n < 80:
		c.Sender, c.Receiver = g.proc[k], g.customer(k)
		if r.IntN(2) == 0 {
			c.Sender = g.branchPro[k][r.IntN(benchPayBranches)]
			c.BranchGUID = c.Sender.BranchGUID
		}
	case n < 90:
		c.Sender, c.Receiver = g.customer(k), g.proc[k]
		if c.Sender.BranchGUID != "" {
			c.Receiver = g.branchPro[k][slices.Index(g.branches[k], c.Sender.BranchGUID)]
		}
	case n < 98:
		c.Sender, c.Receiver = g.proc[k], g.proc[(k+1+r.IntN(benchPayBanks-1))%benchPayBanks]
	default:
		c.Sender, c.Receiver = payment.Party{Kind: payment.KindRoot, Address: benchIssuer}, g.emission[k]
		c.Emission, c.Amount = benchPayGUID(r), c.Amount*100
	}
	if r.IntN(10) < 3 {
		c.CategoryGUID = g.cats[r.IntN(len(g.cats))]
		c.Category = fmt.Sprintf("%02d", slices.Index(g.cats, c.CategoryGUID))
	}
	if r.IntN(2) == 0 {
		c.Purpose = g.purposes[r.IntN(len(g.purposes))]
	}
	if r.IntN(20) == 0 {
		c.TargetBalance = payPtr(int64(r.IntN(1_000_000)))
	}
	after := func(from time.Time, minMS, spanMS int) time.Time {
		return from.Add(time.Duration(minMS+r.IntN(spanMS)) * time.Millisecond)
	}
	switch n := r.IntN(100); {
	case n < 5:
	case n < 9:
		heap.Push(&g.later, benchPayLater{after(at, 5_000, 60_000), payment.PaymentCancelled{GUID: c.GUID, By: c.CreatedBy}})
	default:
		confirmed := after(at, 1_000, 4_000)
		bank := ""
		if c.Receiver.CounterpartyGUID != c.Sender.CounterpartyGUID && c.Emission == "" {
			bank = c.Receiver.CounterpartyGUID
		}
		heap.Push(&g.later, benchPayLater{confirmed, payment.PaymentConfirmed{GUID: c.GUID, BankGUID: bank, By: c.CreatedBy}})
		if r.IntN(25) == 0 {
			heap.Push(&g.later, benchPayLater{after(confirmed, 2_000, 5_000), payment.PaymentFailed{GUID: c.GUID, Reason: "tx_failed: op_underfunded"}})
		} else {
			heap.Push(&g.later, benchPayLater{after(confirmed, 2_000, 5_000), payment.PaymentSettled{GUID: c.GUID}})
		}
	}
	return c
}

// payWithTime sets the time of an event taken from the queue.
func payWithTime(e payment.Event, at time.Time) payment.Event {
	switch e := e.(type) {
	case payment.PaymentConfirmed:
		e.At = at
		return e
	case payment.PaymentSettled:
		e.At = at
		return e
	case payment.PaymentFailed:
		e.At = at
		return e
	case payment.PaymentCancelled:
		e.At = at
		return e
	}
	return e
}

// benchPayBuild applies the whole benchmark log to a new model, timing Apply alone.
type benchPayBuilt struct {
	m        *projections.Payments
	g        *benchPayGen
	events   int
	apply    time.Duration // wall time in Apply
	applyCPU time.Duration // CPU time of the process (every thread, the collector's too) meanwhile
	heap     uint64
	encoding time.Duration
}

// cpuTime is the CPU time the process has used: on a shared machine, a steadier measure than wall time.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func buildBenchPayments(tb testing.TB) benchPayBuilt {
	n := benchPaymentCount()
	g := newBenchPayGen(n)
	runtime.GC()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	out := benchPayBuilt{m: projections.NewPayments(), g: g}
	var evs []payment.Event
	recs := make([]eventstore.RecordedEvent, 0, 40_000)
	for done := false; !done; {
		start := time.Now()
		evs, done = g.chunk(evs[:0], 10_000)
		recs = recs[:0]
		for _, e := range evs {
			typ, data, err := payment.Events.Encode(e)
			if err != nil {
				tb.Fatal(err)
			}
			recs = append(recs, eventstore.RecordedEvent{Type: typ, Data: data, Stream: "payment"})
		}
		out.encoding += time.Since(start)
		start, cpu := time.Now(), cpuTime()
		for _, ev := range recs {
			if err := out.m.Apply(ev); err != nil {
				tb.Fatal(err)
			}
		}
		out.apply += time.Since(start)
		out.applyCPU += cpuTime() - cpu
		out.events += len(recs)
	}
	clear(recs)
	recs, evs = nil, nil
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	out.heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	if out.m.Len() != n {
		tb.Fatalf("%d payments, want %d", out.m.Len(), n)
	}
	return out
}

var (
	benchPayOnce  sync.Once
	benchPayModel benchPayBuilt
)

func BenchmarkApplyPayments(b *testing.B) {
	var built benchPayBuilt
	for range b.N {
		built = buildBenchPayments(b)
	}
	benchPayOnce.Do(func() { benchPayModel = built })
	n := float64(built.m.Len())
	b.ReportMetric(float64(built.events)/built.apply.Seconds(), "events/s")
	b.ReportMetric(built.apply.Seconds(), "s-apply")
	b.ReportMetric(float64(built.apply.Nanoseconds())/float64(built.events), "ns/event")
	b.ReportMetric(float64(built.events)/built.applyCPU.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(built.heap)*100_000/n/(1<<20), "MiB/100k-payments")
	b.ReportMetric(float64(built.events)/n, "events/payment")
	b.Logf("%d payments, %d events; apply %v (CPU %v), generation and encoding %v; heap %.0f MiB", built.m.Len(), built.events,
		built.apply.Round(time.Millisecond), built.applyCPU.Round(time.Millisecond), built.encoding.Round(time.Millisecond), float64(built.heap)/(1<<20))
}

func BenchmarkListPayments(b *testing.B) {
	benchPayOnce.Do(func() { benchPayModel = buildBenchPayments(b) })
	built := benchPayModel
	m, g := built.m, built.g
	r := rand.New(rand.NewPCG(1, 2))
	bank := g.banks[0] // the largest
	span := g.clock.Sub(benchPayStart)
	day := func() (time.Time, time.Time) {
		from := benchPayStart.Add(time.Duration(r.Int64N(int64(span - 24*time.Hour))))
		return from, from.Add(24 * time.Hour)
	}
	var someHashes []string
	for _, p := range payMustList(b, m, projections.PaymentQuery{Counterparty: bank, Statuses: []payment.Status{payment.StatusConfirmed}, Limit: 1000}) {
		someHashes = append(someHashes, p.Hash)
	}
	var someGUIDs []string
	for _, p := range payMustList(b, m, projections.PaymentQuery{Counterparty: bank, Limit: 1000, Offset: 5_000}) {
		someGUIDs = append(someGUIDs, p.GUID)
	}
	mixes := []struct {
		name string
		q    func() projections.PaymentQuery
	}{
		{"page", func() projections.PaymentQuery { // newest first, as a back office opens the list
			return projections.PaymentQuery{Counterparty: bank, Offset: 100 * r.IntN(5)}
		}},
		{"deep-page-asc", func() projections.PaymentQuery {
			return projections.PaymentQuery{Counterparty: bank, Order: "asc", Offset: r.IntN(200_000), Limit: 100}
		}},
		{"account", func() projections.PaymentQuery { // a customer's history, either side
			c := g.customer(0).AccountGUID
			if r.IntN(2) == 0 {
				return projections.PaymentQuery{Counterparty: bank, SenderIDs: []string{c}}
			}
			return projections.PaymentQuery{Counterparty: bank, ReceiverIDs: []string{c}, Statuses: []payment.Status{payment.StatusConfirmed}}
		}},
		{"processing-account-day", func() projections.PaymentQuery { // the bank's busiest account over a day
			from, to := day()
			return projections.PaymentQuery{Counterparty: bank, SenderIDs: []string{g.proc[0].AccountGUID}, CreatedFrom: from, CreatedTo: to}
		}},
		{"day-status", func() projections.PaymentQuery {
			from, to := day()
			return projections.PaymentQuery{Counterparty: bank, CreatedFrom: from, CreatedTo: to, Statuses: []payment.Status{payment.StatusConfirmed}}
		}},
		{"branch-amount", func() projections.PaymentQuery {
			min := int64(50_000)
			return projections.PaymentQuery{Counterparty: bank, Branch: g.branches[0][r.IntN(benchPayBranches)], MinAmount: &min}
		}},
		{"rare-status", func() projections.PaymentQuery { // scans all the bank's payments
			return projections.PaymentQuery{Counterparty: bank, Statuses: []payment.Status{payment.StatusFailed, payment.StatusPending}}
		}},
		{"incoming-from-bank", func() projections.PaymentQuery { // scans all the bank's payments
			return projections.PaymentQuery{Counterparty: bank, SenderCounterparty: g.banks[1+r.IntN(benchPayBanks-1)], ReceiverCounterparty: bank}
		}},
		{"from-bank-one-side", func() projections.PaymentQuery { // no index: scans all the bank's payments
			return projections.PaymentQuery{Counterparty: bank, SenderCounterparty: g.banks[1+r.IntN(benchPayBanks-1)]}
		}},
		{"amount-range", func() projections.PaymentQuery { // no index: scans all the bank's payments
			lo := int64(r.IntN(900_000))
			hi := lo + 1_000
			return projections.PaymentQuery{Counterparty: bank, MinAmount: &lo, MaxAmount: &hi, Order: "asc"}
		}},
		{"hash", func() projections.PaymentQuery {
			return projections.PaymentQuery{Counterparty: bank, Hashes: []string{someHashes[r.IntN(len(someHashes))]}}
		}},
		{"guids", func() projections.PaymentQuery {
			i := r.IntN(len(someGUIDs) - 20)
			return projections.PaymentQuery{Counterparty: bank, GUIDs: someGUIDs[i : i+20]}
		}},
	}
	const rounds = 60
	var all []time.Duration
	per := map[string][]time.Duration{}
	totals := map[string]int{}
	b.ResetTimer()
	for range b.N {
		for range rounds {
			for _, mix := range mixes {
				q := mix.q()
				start := time.Now()
				_, total, err := m.List(q)
				d := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				per[mix.name] = append(per[mix.name], d)
				all = append(all, d)
				totals[mix.name] += total
			}
		}
	}
	b.StopTimer()
	p50, p99 := payPercentiles(all)
	b.ReportMetric(payMS(p50), "p50-ms")
	b.ReportMetric(payMS(p99), "p99-ms")
	// The table goes to stderr: the testing package cuts a benchmark's log after ten lines.
	_, bankTotal, _ := m.List(projections.PaymentQuery{Counterparty: bank, Limit: 1})
	fmt.Fprintf(os.Stderr, "BenchmarkListPayments: the queried bank sees %d of %d payments; %d queries of each kind\n", bankTotal, m.Len(), rounds*b.N)
	for _, mix := range mixes {
		p50, p99 := payPercentiles(per[mix.name])
		fmt.Fprintf(os.Stderr, "  %-24s p50 %7.3f ms  p99 %7.3f ms  (mean total %d)\n", mix.name, payMS(p50), payMS(p99), totals[mix.name]/len(per[mix.name]))
	}
}

func payMustList(b *testing.B, m *projections.Payments, q projections.PaymentQuery) []projections.Payment {
	page, _, err := m.List(q)
	if err != nil {
		b.Fatal(err)
	}
	return page
}

func payPercentiles(ds []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

func payMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
