package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/iban"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// The customers benchmarks run over a real embedded store holding the events of KAZNA_BENCH_CUSTOMERS
// customers (default 100,000), generated once and kept in KAZNA_BENCH_DIR (default the system's temporary
// directory) for later runs: the data are a pure function of the customer's number, so a file of the same
// size and format version holds the same events. Benchmarks run only with -bench, so `go test` never makes it.
//
// Each customer is what a registration writes: a login claim and an IBAN claim (uniqueness streams, which the
// read model must pass over), AccountKeyGenerated with a 90-byte sealed seed and AccountOpened, then
// CustomerRegistered. One in twenty is updated later, one in thirty gets an account segment.
const benchFormat = "v1"

var (
	benchStoreOnce sync.Once
	benchStoreInfo benchStoreFile
	benchStoreErr  error
)

type benchStoreFile struct {
	path   string
	n      int
	events uint64
}

func benchCustomerCount() int {
	if v, err := strconv.Atoi(os.Getenv("KAZNA_BENCH_CUSTOMERS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// Two banks: the big one holds 90% of the customers and is the one queried.
var (
	benchBank      = uuid.MustParse("6a1d0e52-4c3b-4f8a-b2d7-91e0c4a5f816")
	benchSmallBank = uuid.MustParse("0b7f3c9e-2d41-4e8a-9c65-7d1e2f3a4b5c")
	benchIssuer    = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
	benchStart     = time.Date(2023, 1, 1, 8, 0, 0, 0, time.UTC)
	benchSpan      = 3 * 365 * 24 * time.Hour
	benchBranches  = func() []uuid.UUID {
		out := make([]uuid.UUID, 25)
		for i := range out {
			out[i] = uuid.NewSHA1(benchBank, []byte("branch-"+strconv.Itoa(i)))
		}
		return out
	}()
	benchNames = []string{"Olena", "Oksana", "Iryna", "Nataliia", "Tetiana", "Svitlana", "Yuliia", "Kateryna", "Mariia", "Anna",
		"Halyna", "Liudmyla", "Viktoriia", "Alina", "Daryna", "Sofiia", "Khrystyna", "Larysa", "Nadiia", "Vira",
		"Oleksandr", "Andrii", "Serhii", "Volodymyr", "Dmytro", "Mykola", "Ivan", "Vasyl", "Yurii", "Oleh",
		"Taras", "Bohdan", "Maksym", "Artem", "Roman", "Ihor", "Petro", "Pavlo", "Mykhailo", "Denys"}
	benchFathers  = []string{"Oleksandr", "Andrii", "Serhii", "Volodymyr", "Dmytro", "Mykola", "Ivan", "Vasyl", "Yurii", "Oleh", "Taras", "Bohdan", "Petro", "Pavlo", "Mykhailo"}
	benchRoots    = []string{"Shevch", "Kovalen", "Bondar", "Tkach", "Kravch", "Boyk", "Kovalch", "Oliin", "Shevchuk", "Polishch", "Lysen", "Moroz", "Marchen", "Savch", "Rudn", "Melnych", "Pavlen", "Kuzmen", "Hnatiuk", "Lytvyn", "Ostapch", "Tymoshen", "Petren", "Zinchen", "Humen", "Karpen", "Danyl", "Prokopen", "Fedor", "Kostiuk", "Vlasen", "Sydor", "Yaremch", "Hrytsen", "Semen", "Levch", "Zakharch", "Romaniuk", "Kyrylen", "Dovhan"}
	benchEndings  = []string{"enko", "uk", "yk", "ko", "ovych", "sky", "ska", "iv", "ets", "ak", "ych", "un"}
	benchSegments = []weighted{{"retail", 60}, {"salary", 15}, {"business", 8}, {"student", 8}, {"pension", 7}, {"vip", 2}}
	benchStatuses = []weighted{{"active", 88}, {"pending", 6}, {"blocked", 4}, {"closed", 2}}
	benchKYC      = []weighted{{"0", 10}, {"1", 40}, {"2", 35}, {"3", 15}}
)

type weighted struct {
	v string
	w int
}

func pick(r *rand.Rand, ws []weighted) string {
	n := r.IntN(100)
	for _, w := range ws {
		if n < w.w {
			return w.v
		}
		n -= w.w
	}
	return ws[len(ws)-1].v
}

func randUUID(r *rand.Rand) uuid.UUID {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(r.Uint32())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// benchCustomer is customer i of the benchmark data: the same for every run of the same N.
type benchCustomer struct {
	guid, acct   uuid.UUID
	cp           uuid.UUID
	at           time.Time
	externalID   string
	profile      customer.Profile
	disabled     bool
	address      string
	iban         string
	seed         []byte
	updatedAt    time.Time // zero unless updated later
	updated      customer.Profile
	accountSeg   string
	eventIDs     [8]uuid.UUID
	correlation  string
	employeeGUID string
}

func makeBenchCustomer(i, n int) benchCustomer {
	r := rand.New(rand.NewPCG(0x6b617a6e61, uint64(i)))
	c := benchCustomer{guid: randUUID(r), acct: randUUID(r), cp: benchBank}
	if i%10 == 9 {
		c.cp = benchSmallBank
	}
	step := benchSpan / time.Duration(n)
	c.at = benchStart.Add(time.Duration(i)*step + time.Duration(r.Int64N(int64(step/2)+1)))
	if r.IntN(1000) == 0 {
		c.at = c.at.Add(-10 * time.Minute) // a clock a little behind: creation order is not log order
	}
	name := benchNames[r.IntN(len(benchNames))]
	surname := benchRoots[r.IntN(len(benchRoots))] + benchEndings[r.IntN(len(benchEndings))]
	father := benchFathers[r.IntN(len(benchFathers))]
	paternal := father + "ovych"
	if r.IntN(2) == 0 {
		paternal = father + "ivna"
	}
	phone := fmt.Sprintf("+380%09d", 500_000_000+i)
	login := phone
	if r.IntN(2) == 0 {
		login = fmt.Sprintf("%s.%s%d@mail.test", strings.ToLower(name), strings.ToLower(surname), i)
	}
	kyc, _ := strconv.Atoi(pick(r, benchKYC))
	branch := ""
	if r.IntN(5) != 0 {
		branch = benchBranches[r.IntN(len(benchBranches))].String()
	}
	var allowed money.Amount
	if r.IntN(10) < 3 {
		allowed = money.Amount(100_000 * (1 + r.IntN(50)))
	}
	c.profile = customer.Profile{Login: login, Name: name, Surname: surname, PaternalName: paternal, Phone: phone, KYCLevel: kyc,
		Segment: pick(r, benchSegments), Status: pick(r, benchStatuses), BranchGUID: branch, BalanceAllowed: allowed,
		BalanceAssetCode: "UAH", BalanceAssetIssuer: benchIssuer}
	c.disabled = r.IntN(100) == 0
	c.externalID = fmt.Sprintf("ext-%016x", r.Uint64())
	var key [32]byte
	for j := range key {
		key[j] = byte(r.Uint32())
	}
	c.address, _ = strkey.Encode(strkey.VersionByteAccountID, key[:])
	ib, _ := iban.Generate("UA", fmt.Sprintf("322313%019d", 7_000_000_000+i))
	c.iban = string(ib)
	c.seed = make([]byte, 90)
	for j := range c.seed {
		c.seed[j] = byte(r.Uint32())
	}
	if r.IntN(20) == 0 {
		c.updatedAt = c.at.Add(time.Duration(1+r.IntN(300)) * 24 * time.Hour)
		c.updated = c.profile
		c.updated.KYCLevel = min(3, kyc+1)
		c.updated.Status = "active"
		c.updated.Surname = benchRoots[r.IntN(len(benchRoots))] + benchEndings[r.IntN(len(benchEndings))]
	}
	if r.IntN(30) == 0 {
		c.accountSeg = []string{"gold", "platinum", "payroll"}[r.IntN(3)]
	}
	for j := range c.eventIDs {
		c.eventIDs[j] = randUUID(r)
	}
	c.correlation = randUUID(r).String()
	c.employeeGUID = uuid.NewSHA1(c.cp, []byte("teller-"+strconv.Itoa(r.IntN(200)))).String()
	return c
}

func encodeEvent[E any](codec command.Codec[E], e E, id uuid.UUID, c *benchCustomer, at time.Time) eventstore.EventData {
	typ, data, err := codec.Encode(e)
	if err != nil {
		panic(err)
	}
	return eventstore.EventData{ID: id, Type: typ, Data: data, Metadata: eventstore.Metadata{
		Actor: "employee-" + c.employeeGUID, Counterparty: c.cp.String(), CorrelationID: c.correlation,
		RequestID: "req-" + c.correlation[:18], Time: at}}
}

// appends are the writes of one customer, in the order a registration makes them.
func (c *benchCustomer) appends() []benchAppend {
	acct := c.acct.String()
	owner := account.Owner{CustomerGUID: c.guid.String(), IBAN: c.iban}
	out := []benchAppend{
		{customer.LoginStream(c.cp, c.profile.Login), []eventstore.EventData{encodeEvent[uniqueness.Event](uniqueness.Events,
			uniqueness.ValueClaimed{Owner: c.guid.String(), Value: c.profile.Login, At: c.at}, c.eventIDs[0], c, c.at)}},
		{uniqueness.Stream("iban-", c.iban), []eventstore.EventData{encodeEvent[uniqueness.Event](uniqueness.Events,
			uniqueness.ValueClaimed{Owner: acct, Value: c.iban, At: c.at}, c.eventIDs[1], c, c.at)}},
		{account.Stream(c.acct), []eventstore.EventData{
			encodeEvent[account.Event](account.Events, account.AccountKeyGenerated{GUID: acct, Kind: account.KindCustomer,
				CounterpartyGUID: c.cp.String(), Address: c.address, SealedSeed: c.seed, Owner: owner, At: c.at}, c.eventIDs[2], c, c.at),
			encodeEvent[account.Event](account.Events, account.AccountOpened{GUID: acct, Kind: account.KindCustomer,
				CounterpartyGUID: c.cp.String(), Address: c.address, AssetCode: "eUAH", AssetIssuer: benchIssuer, Owner: owner, At: c.at.Add(4 * time.Second)}, c.eventIDs[3], c, c.at.Add(4*time.Second)),
		}},
		{customer.Stream(c.guid), []eventstore.EventData{encodeEvent[customer.Event](customer.Events, customer.CustomerRegistered{
			GUID: c.guid.String(), CounterpartyGUID: c.cp.String(), ExternalID: c.externalID, Profile: c.profile, Disabled: c.disabled,
			AccountGUID: acct, At: c.at.Add(5 * time.Second)}, c.eventIDs[4], c, c.at.Add(5*time.Second))}},
	}
	if !c.updatedAt.IsZero() {
		out = append(out, benchAppend{customer.Stream(c.guid), []eventstore.EventData{encodeEvent[customer.Event](customer.Events,
			customer.CustomerUpdated{GUID: c.guid.String(), Profile: c.updated, At: c.updatedAt}, c.eventIDs[5], c, c.updatedAt)}})
	}
	if c.accountSeg != "" {
		at := c.at.Add(time.Hour)
		out = append(out, benchAppend{account.Stream(c.acct), []eventstore.EventData{encodeEvent[account.Event](account.Events,
			account.AccountSegmentSet{GUID: acct, Segment: c.accountSeg, At: at}, c.eventIDs[6], c, at)}})
	}
	return out
}

type benchAppend struct {
	stream string
	events []eventstore.EventData
}

// benchStore returns the benchmark's event store file, generating it on first use.
func benchStore(b *testing.B) benchStoreFile {
	b.Helper()
	benchStoreOnce.Do(func() { benchStoreInfo, benchStoreErr = prepareBenchStore(b) })
	if benchStoreErr != nil {
		b.Fatal(benchStoreErr)
	}
	return benchStoreInfo
}

func prepareBenchStore(b *testing.B) (benchStoreFile, error) {
	n := benchCustomerCount()
	dir := os.Getenv("KAZNA_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("kazna-bench-customers-%s-%d.db", benchFormat, n))
	if _, err := os.Stat(path); err == nil {
		s, err := bolt.Open(path)
		if err != nil {
			return benchStoreFile{}, err
		}
		defer s.Close()
		b.Logf("using the cached store %s", path)
		return benchStoreFile{path: path, n: n, events: s.LastPosition().Commit}, nil
	}
	// Written under another name and renamed when complete, so that an interrupted run leaves no file that
	// looks finished.
	tmp := path + ".partial"
	os.Remove(tmp)
	s, err := bolt.Open(tmp)
	if err != nil {
		return benchStoreFile{}, err
	}
	start := time.Now()
	const writers = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	ctx := context.Background()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c := makeBenchCustomer(i, n)
				revs := map[string]uint64{}
				for _, a := range c.appends() {
					var exp eventstore.ExpectedRevision = eventstore.NoStream{}
					if rev, ok := revs[a.stream]; ok {
						exp = eventstore.Exact(rev)
					}
					res, err := s.Append(ctx, a.stream, exp, a.events...)
					if err != nil {
						errs <- fmt.Errorf("customer %d, %s: %w", i, a.stream, err)
						return
					}
					revs[a.stream] = res.NextExpectedRevision
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		s.Close()
		return benchStoreFile{}, err
	}
	events := s.LastPosition().Commit
	if err := s.Close(); err != nil {
		return benchStoreFile{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return benchStoreFile{}, err
	}
	b.Logf("generated %d customers (%d events) into %s in %v", n, events, path, time.Since(start).Round(time.Millisecond))
	return benchStoreFile{path: path, n: n, events: events}, nil
}

// rebuild runs every read model from the start of store's log until it has caught up, and stops it.
func rebuild(b *testing.B, store *bolt.Store) (*projections.Customers, time.Duration) {
	b.Helper()
	c := projections.NewCustomers()
	r, err := projections.NewRunner(store, projections.Options{}, projections.NewCounterparties(), projections.NewEmployees(),
		projections.NewBranches(), projections.NewRoles(), c)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Run(ctx) }()
	wait, stop := context.WithTimeout(ctx, 10*time.Minute)
	defer stop()
	if err := r.WaitCaughtUp(wait); err != nil {
		cancel()
		b.Fatalf("rebuild: %v (run: %v)", err, <-done)
	}
	took := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return c, took
}

func openBenchStore(b *testing.B) (*bolt.Store, benchStoreFile) {
	b.Helper()
	info := benchStore(b)
	s, err := bolt.Open(info.path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, info
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRebuildCustomers rebuilds every read model from the log, as a start does (timed until the Runner
// has caught up), then reports the heap the model holds, what the first query of each ordering costs on the
// fresh model (the lazy sorts), and what Warm costs for the rest.
func BenchmarkRebuildCustomers(b *testing.B) {
	store, info := openBenchStore(b)
	var took time.Duration
	var heap uint64
	var c *projections.Customers
	for b.Loop() {
		c = nil
		before := heapInUse()
		var d time.Duration
		c, d = rebuild(b, store)
		took += d
		if after := heapInUse(); after > before {
			heap = after - before
		}
	}
	per := took / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/rebuild")
	b.ReportMetric(float64(info.events)/per.Seconds(), "events/s")
	b.ReportMetric(float64(per.Nanoseconds())/float64(info.n), "ns/customer")
	b.ReportMetric(float64(heap)*100_000/float64(info.n)/(1<<20), "MiB/100k-customers")
	ctx := context.Background()
	for _, o := range []projections.CustomerOrder{projections.CustomersByCreated, projections.CustomersByUpdatedDesc,
		projections.CustomersByLogin, projections.CustomersBySurname} {
		start := time.Now()
		if _, _, err := c.ListCustomers(ctx, projections.CustomerQuery{CounterpartyGUID: benchBank.String(), Order: o}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start))/float64(time.Millisecond), "first-ms-"+strings.TrimPrefix(string(o), "-"))
	}
	start := time.Now()
	if err := c.Warm(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s/warm-after")
	runtime.KeepAlive(c)
}

var (
	benchLoadedOnce sync.Once
	benchLoaded     *projections.Customers
	benchWarm       time.Duration
)

// loadedCustomers is one read model rebuilt and warmed for the query benchmarks.
func loadedCustomers(b *testing.B) (*projections.Customers, benchStoreFile) {
	store, info := openBenchStore(b)
	benchLoadedOnce.Do(func() {
		c, _ := rebuild(b, store)
		start := time.Now()
		if err := c.Warm(context.Background()); err != nil {
			b.Fatal(err)
		}
		benchWarm = time.Since(start)
		benchLoaded = c
	})
	return benchLoaded, info
}

type benchQuery struct {
	kind string
	q    projections.CustomerQuery
}

// benchQueries is a mix of the filtered lists a bank's back office runs.
func benchQueries(n int, r *rand.Rand) []benchQuery {
	cp := benchBank.String()
	customerOf := func() benchCustomer {
		for {
			if c := makeBenchCustomer(r.IntN(n), n); c.cp == benchBank {
				return c
			}
		}
	}
	orders := []projections.CustomerOrder{projections.CustomersBySurname, projections.CustomersByUpdatedDesc, projections.CustomersByLogin, projections.CustomersByCreatedDesc}
	var out []benchQuery
	for i := range 40 {
		c := customerOf()
		out = append(out,
			benchQuery{"login", projections.CustomerQuery{CounterpartyGUID: cp, Logins: []string{strings.ToUpper(c.profile.Login)}}},
			benchQuery{"kyc+status", projections.CustomerQuery{CounterpartyGUID: cp, KYCLevels: []int{i % 4}, Statuses: []string{"active"},
				Offset: 50 * r.IntN(4)}},
			benchQuery{"segment+branch+order", projections.CustomerQuery{CounterpartyGUID: cp, Segments: []string{pick(r, benchSegments)},
				BranchGUIDs: []string{benchBranches[r.IntN(len(benchBranches))].String()}, Order: orders[i%len(orders)]}},
			benchQuery{"scope+kyc+order", projections.CustomerQuery{CounterpartyGUID: cp, BranchScope: benchBranches[r.IntN(len(benchBranches))].String(),
				KYCLevels: []int{1, 2}, Order: orders[(i+1)%len(orders)]}},
		)
		from := benchStart.Add(time.Duration(r.Int64N(int64(benchSpan))))
		out = append(out, benchQuery{"created range", projections.CustomerQuery{CounterpartyGUID: cp, MinCreated: from,
			MaxCreated: from.Add(time.Duration(1+r.IntN(30)) * 24 * time.Hour), Order: projections.CustomersByCreatedDesc}})
		var search string
		switch i % 3 {
		case 0:
			search = c.profile.Surname[:5] // a part of a surname: thousands of matches
		case 1:
			search = c.profile.Phone[5:] // a part of a phone-like login
		default:
			search = c.externalID
		}
		out = append(out, benchQuery{"search", projections.CustomerQuery{CounterpartyGUID: cp, Search: search}})
	}
	return out
}

// BenchmarkListCustomers runs the query mix against a read model of N customers and reports the latency
// percentiles of each kind of query and of all together.
func BenchmarkListCustomers(b *testing.B) {
	c, info := loadedCustomers(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	byKind := map[string][]time.Duration{}
	var all []time.Duration
	updates := 0
	for b.Loop() {
		// Writes between reads: each update re-keys a row of the update-time order, which the next query by
		// that order merges in.
		for range 40 {
			i := r.IntN(info.n)
			c0 := makeBenchCustomer(i, info.n)
			if c0.cp != benchBank {
				continue
			}
			updates++
			pr := c0.profile
			pr.Status = pick(r, benchStatuses)
			_, data, err := customer.Events.Encode(customer.CustomerUpdated{GUID: c0.guid.String(), Profile: pr,
				At: benchStart.Add(benchSpan + time.Duration(updates)*time.Second)})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Apply(eventstore.RecordedEvent{Type: "CustomerUpdated", Data: data}); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, _, err := c.ListCustomers(ctx, projections.CustomerQuery{CounterpartyGUID: benchBank.String(), KYCLevels: []int{pr.KYCLevel},
				Order: projections.CustomersByUpdatedDesc}); err != nil {
				b.Fatal(err)
			}
			byKind["after update"] = append(byKind["after update"], time.Since(start))
		}
		for _, q := range benchQueries(info.n, r) {
			start := time.Now()
			_, total, err := c.ListCustomers(ctx, q.q)
			d := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if total == 0 && q.kind == "login" {
				b.Fatalf("%s found nothing: %+v", q.kind, q.q)
			}
			byKind[q.kind] = append(byKind[q.kind], d)
			all = append(all, d)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	all = append(all, byKind["after update"]...)
	b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 99)), "p99-ms")
	for kind, ds := range byKind {
		b.ReportMetric(ms(percentile(ds, 50)), "p50-ms-"+strings.ReplaceAll(kind, " ", "-"))
		b.ReportMetric(ms(percentile(ds, 99)), "p99-ms-"+strings.ReplaceAll(kind, " ", "-"))
	}
	b.ReportMetric(benchWarm.Seconds(), "s/warm")
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}
