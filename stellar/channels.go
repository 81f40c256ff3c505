package stellar

import (
	"context"
	"fmt"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// channel is a transaction source account: it pays the fee and supplies the sequence number. A channel is used
// by one transaction at a time (whoever took it from the pool), so its sequence number lives in memory without
// a lock: loaded once, incremented on every applied transaction, reloaded after tx_bad_seq or an unknown
// outcome.
type channel struct {
	signer  Signer
	address string
	seq     int64 // sequence number of the last transaction applied from this account
	loaded  bool
}

// channelPool hands out channels; its capacity bounds how many transactions are in flight.
type channelPool struct {
	free chan *channel
}

func newChannelPool(signers []Signer) *channelPool {
	p := &channelPool{free: make(chan *channel, len(signers))}
	for _, s := range signers {
		p.free <- &channel{signer: s, address: s.Address()}
	}
	return p
}

func (p *channelPool) size() int { return cap(p.free) }

func (p *channelPool) acquire(ctx context.Context) (*channel, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stellar: waiting for a free channel account: %w", err)
	}
	select {
	case ch := <-p.free:
		return ch, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("stellar: waiting for a free channel account: %w", ctx.Err())
	}
}

func (p *channelPool) release(ch *channel) { p.free <- ch }

// loadSequence reads the channel's current sequence number from Horizon.
func (h *Horizon) loadSequence(ctx context.Context, ch *channel) error {
	c, _ := h.client(ctx)
	acct, err := c.AccountDetail(horizonclient.AccountRequest{AccountID: ch.address})
	if err != nil {
		if herr := horizonclient.GetError(err); herr != nil && herr.Response != nil && herr.Response.StatusCode == 404 {
			return fmt.Errorf("stellar: channel account %s does not exist (run OpenChannels): %w", ch.address, ErrNotFound)
		}
		return fmt.Errorf("stellar: load sequence of channel %s: %w", ch.address, err)
	}
	ch.seq, ch.loaded = acct.Sequence, true
	h.stats.sequenceLoads.Add(1)
	return nil
}

// OpenChannels creates the configured channel accounts that do not exist yet, funded from the root account
// with startingBalance lumens each. It is idempotent. Channels need lumens for fees and for one data entry
// (the payment_guid manageData), so fund them with a few lumens at least.
func (h *Horizon) OpenChannels(ctx context.Context, startingBalance string) error {
	if h.rootIsChannel {
		return nil
	}
	stroops, err := ParseStroops(startingBalance)
	if err != nil || stroops <= 0 {
		return invalid("starting balance", "%q must be a positive lumen amount", startingBalance)
	}
	var missing []string
	for _, s := range h.cfg.Channels {
		c, _ := h.client(ctx)
		_, err := c.AccountDetail(horizonclient.AccountRequest{AccountID: s.Address()})
		if err == nil {
			continue
		}
		if herr := horizonclient.GetError(err); herr != nil && herr.Response != nil && herr.Response.StatusCode == 404 {
			missing = append(missing, s.Address())
			continue
		}
		return fmt.Errorf("stellar: check channel %s: %w", s.Address(), err)
	}
	h.rootMu.Lock()
	defer h.rootMu.Unlock()
	for len(missing) > 0 {
		n := min(len(missing), MaxOpsPerTx)
		ops := make([]txnbuild.Operation, 0, n)
		for _, a := range missing[:n] {
			ops = append(ops, &txnbuild.CreateAccount{Destination: a, Amount: FormatStroops(stroops)})
		}
		if _, err := h.submitWith(ctx, h.rootChannel, ops, nil); err != nil {
			return fmt.Errorf("stellar: open %d channel accounts: %w", n, err)
		}
		missing = missing[n:]
	}
	return nil
}
