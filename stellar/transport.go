package stellar

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
)

// callTransport is the HTTP layer under one horizonclient call. It makes the call honour the caller's context
// (horizonclient itself only has a fixed timeout) and remembers the last HTTP status, so a 429 or 504 is
// recognised even when its body is not a Horizon problem document.
type callTransport struct {
	ctx    context.Context
	base   *http.Client
	status atomic.Int32
}

func (t *callTransport) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	resp, err := t.base.Do(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	t.status.Store(int32(resp.StatusCode))
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

func (t *callTransport) Get(u string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return t.Do(req)
}

func (t *callTransport) PostForm(u string, data url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(data.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return t.Do(req)
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// client returns a horizonclient bound to ctx for one call, and its transport.
func (h *Horizon) client(ctx context.Context) (*horizonclient.Client, *callTransport) {
	t := &callTransport{ctx: ctx, base: h.cfg.HTTPClient}
	c := &horizonclient.Client{HorizonURL: h.cfg.HorizonURL, HTTP: t, AppName: "kazna"}
	c.SetHorizonTimeout(h.cfg.RequestTimeout)
	return c, t
}
