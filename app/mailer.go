package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mailer delivers an employee's one-time verification link. Link carries the raw token, so an
// implementation must send it only to the employee's address and must not log it.
type Mailer interface {
	SendVerification(ctx context.Context, to, link string) error
}

// VerificationLink is the back office's reset-password page with the employee's e-mail and token, as guide
// §6.1 gives it: <base>/reset-password/?email=…&token=….
func VerificationLink(baseURL, email, token string) string {
	q := url.Values{"email": {email}, "token": {token}}
	return strings.TrimRight(baseURL, "/") + "/reset-password/?" + q.Encode()
}

// LogMailer writes the verification link to the log, for installations without SMTP. This is the one place
// where a raw token is logged, deliberately: the operator hands the link to the employee. Do not use it
// where logs are shipped to people who must not set employees' passwords.
type LogMailer struct {
	Logger *slog.Logger // nil: slog.Default()
}

func (m LogMailer) SendVerification(ctx context.Context, to, link string) error {
	l := m.Logger
	if l == nil {
		l = slog.Default()
	}
	l.InfoContext(ctx, "employee verification link (no SMTP configured)", "to", to, "link", link)
	return nil
}

// SMTPConfig is how to reach the mail relay.
type SMTPConfig struct {
	Host string
	Port int
	From string
	// Username and Password, when set, authenticate with PLAIN (net/smtp refuses it without TLS except on
	// localhost).
	Username string
	Password string
	// Timeout bounds one delivery (default 10 s).
	Timeout time.Duration
}

// SMTPMailer sends the verification link by e-mail with net/smtp.
type SMTPMailer struct {
	cfg  SMTPConfig
	send func(addr string, a smtp.Auth, from string, to []string, msg []byte) error
}

const (
	defaultSMTPTimeout = 10 * time.Second
	maxMailAddressLen  = 254
)

// NewSMTPMailer checks the configuration.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	if cfg.Host == "" || cfg.Port <= 0 || cfg.Port > 65535 || cfg.From == "" {
		return nil, errors.New("app: SMTP needs a host, a port from 1 to 65535 and a from address")
	}
	if strings.ContainsAny(cfg.From, "\r\n") || len(cfg.From) > maxMailAddressLen {
		return nil, errors.New("app: SMTP from address is not an address")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSMTPTimeout
	}
	return &SMTPMailer{cfg: cfg, send: smtp.SendMail}, nil
}

func (m *SMTPMailer) SendVerification(ctx context.Context, to, link string) error {
	// A header injection through the address would let a caller add recipients.
	if to == "" || len(to) > maxMailAddressLen || strings.ContainsAny(to, "\r\n") {
		return errors.New("app: verification mail: bad recipient address")
	}
	var a smtp.Auth
	if m.cfg.Username != "" {
		a = smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.Host)
	}
	msg := "From: " + m.cfg.From + "\r\nTo: " + to + "\r\nSubject: Set your Kazna password\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Open this link to set your password. It works once and expires soon.\r\n\r\n" + link + "\r\n"
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	// net/smtp has no context; run it aside so that a stuck relay cannot hold the request past the bound.
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.send(addr, a, m.cfg.From, []string{to}, []byte(msg)) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("app: verification mail: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("app: verification mail: %w", ctx.Err())
	}
}
