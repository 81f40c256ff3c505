package application

import (
	"errors"
	"fmt"
	"time"

	"github.com/kazna-ledger/kazna/command"
)

// Call analytics are recorded in aggregate: a node counts its applications' calls in memory and appends what
// it counted every few seconds as one CallsRecorded per UTC hour it saw calls in, to the stream of the day.
// An event per call would make the log grow with the traffic it measures; an event per flush grows with time.

// CallsStream is the stream of the call counts recorded on a UTC day.
func CallsStream(day time.Time) string { return "application-calls-" + day.UTC().Format(time.DateOnly) }

// LatencyBounds are the upper bounds of the latency histogram's buckets; a last bucket counts the slower
// calls. Fixed bounds let histograms of any node and any hour be added bucket by bucket.
var LatencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// LatencyBuckets is the length of a histogram: one per bound and one for slower calls.
const LatencyBuckets = len(LatencyBounds) + 1

// LatencyBucket is the bucket of a call that took d.
func LatencyBucket(d time.Duration) int {
	for i, b := range LatencyBounds {
		if d <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

// Percentile is the latency under which a share q (0 < q ≤ 1) of the calls of a histogram fell: the upper bound
// of the bucket holding that rank, so never an understatement. Calls slower than the last bound report it.
func Percentile(hist []int64, q float64) time.Duration {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total) + 0.999999) // ceil without float surprises at whole ranks
	rank = max(1, min(rank, total))
	var seen int64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			return LatencyBounds[min(i, len(LatencyBounds)-1)]
		}
	}
	return LatencyBounds[len(LatencyBounds)-1]
}

// CallRow counts the calls of one application to one route that ended with one status within an hour.
type CallRow struct {
	Application  string  `json:"application_guid"`
	Counterparty string  `json:"counterparty_guid"`
	Product      Product `json:"product"`
	// Route is the method and path template, "GET /api/v1/counterparty/{counterparty_guid}/customers".
	Route  string `json:"route"`
	Status int    `json:"status"`
	// Limited marks calls refused by the rate limit or the quota (429 before the endpoint ran): they do not count
	// against the quota.
	Limited bool  `json:"limited,omitempty"`
	Calls   int64 `json:"calls"`
	// Latency counts the calls per LatencyBounds bucket.
	Latency []int64 `json:"latency"`
}

// Bounds of a CallsRecorded. MaxCallRows keeps one event far below eventstore.MaxEventDataBytes.
const MaxCallRows = 500

// CallsRecorded is what a node counted of its applications' calls within one UTC hour since its last flush.
type CallsRecorded struct {
	Hour time.Time `json:"hour"` // start of the hour
	Node string    `json:"node"` // the node that counted, for an operator tracing a figure
	Rows []CallRow `json:"rows"`
	At   time.Time `json:"at"` // when the node flushed
}

// CallEvent is an event of a calls stream.
type CallEvent interface{ isCallEvent() }

func (CallsRecorded) isCallEvent() {}

// Validate refuses a record a reader could not fold: too many rows, a histogram of another shape, a count
// that does not add up.
func (c CallsRecorded) Validate() error {
	if len(c.Rows) == 0 || len(c.Rows) > MaxCallRows {
		return fmt.Errorf("application: %d call rows, want 1 to %d", len(c.Rows), MaxCallRows)
	}
	if !c.Hour.Equal(c.Hour.Truncate(time.Hour)) {
		return errors.New("application: calls hour is not the start of an hour")
	}
	for i, r := range c.Rows {
		if len(r.Latency) != LatencyBuckets {
			return fmt.Errorf("application: call row %d: %d latency buckets, want %d", i, len(r.Latency), LatencyBuckets)
		}
		var sum int64
		for _, n := range r.Latency {
			if n < 0 {
				return fmt.Errorf("application: call row %d: negative latency count", i)
			}
			sum += n
		}
		if r.Calls <= 0 || sum != r.Calls {
			return fmt.Errorf("application: call row %d: %d calls, histogram holds %d", i, r.Calls, sum)
		}
	}
	return nil
}

// CallEvents is the codec of calls streams.
var CallEvents = newCallEvents()

func newCallEvents() *command.Registry[CallEvent] {
	r := command.NewRegistry[CallEvent]()
	_ = command.Register[CallEvent, CallsRecorded](r, "ApplicationCallsRecorded")
	return r
}
