package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/platform"
)

const (
	// maxLoginBytes and maxPasswordBytes bound what Login looks at (an email; bcrypt reads 72 bytes).
	maxLoginBytes    = 320
	maxPasswordBytes = 128
)

var (
	// ErrInvalidCredentials is every refused login: unknown login, wrong password, disabled account. One
	// error for all, so that an answer never tells which logins exist.
	ErrInvalidCredentials = errors.New("app: invalid login or password")
	// ErrUnknownLogin is what an EmployeeCredentials returns for a login it does not know.
	ErrUnknownLogin = errors.New("app: unknown login")
)

// EmployeeCredentials looks up a bank employee (or other platform staff) by login, for Login. It returns
// ErrUnknownLogin for a login it does not know; any other error means it could not answer.
type EmployeeCredentials interface {
	Credentials(ctx context.Context, login string) (Credential, error)
}

// Credential is what Login needs of an employee: who the token is for and how to check the password.
type Credential struct {
	Subject          string   // the employee's GUID (the token's subject)
	CounterpartyGUID string   // the employee's bank
	Roles            []string // the employee's endpoint roles
	// Branch is the GUID of the employee's branch, read at login; empty means the whole bank. It goes into
	// the token, and so limits the employee to that branch's customers, accounts and payments.
	Branch       string
	PasswordHash string // empty until the employee has set a password
	Disabled     bool
}

// Token is an access token issued at login.
type Token struct {
	AccessToken string
	TokenType   string // "Bearer"
	ExpiresIn   time.Duration
}

// Login checks a login and password and issues a platform access token. The platform administrator logs in
// with the login and password recorded at bootstrap; anyone else through the EmployeeCredentials (if any).
// Every refusal is ErrInvalidCredentials after the same bcrypt work, whether or not the login exists.
func (p *Platform) Login(ctx context.Context, login, password string) (Token, error) {
	if login == "" || len(login) > maxLoginBytes || len(password) > maxPasswordBytes {
		p.burn(password)
		return Token{}, ErrInvalidCredentials
	}
	p.mu.RLock()
	s := p.state
	p.mu.RUnlock()

	var claims auth.Claims
	var hash string
	disabled := false
	switch {
	case s.HasAdministrator() && login == s.AdminLogin:
		claims = auth.Claims{Subject: s.AdminLogin, Roles: []string{AdministratorRole}}
		hash = s.AdminPasswordHash
	case p.deps.Employees != nil:
		cred, err := p.deps.Employees.Credentials(ctx, login)
		switch {
		case errors.Is(err, ErrUnknownLogin):
			p.burn(password)
			return Token{}, ErrInvalidCredentials
		case err != nil:
			return Token{}, fmt.Errorf("app: look up the login: %w", err)
		case cred.Subject == "" || cred.PasswordHash == "":
			p.burn(password)
			return Token{}, ErrInvalidCredentials
		}
		claims = auth.Claims{Subject: cred.Subject, Counterparty: cred.CounterpartyGUID, Roles: cred.Roles,
			Branch: strings.ToLower(cred.Branch)}
		hash, disabled = cred.PasswordHash, cred.Disabled
	default:
		p.burn(password)
		return Token{}, ErrInvalidCredentials
	}
	if err := auth.CheckPassword(hash, password); err != nil || disabled {
		return Token{}, ErrInvalidCredentials
	}
	tok, ttl, err := p.keyring.Issue(claims, p.deps.Config.TokenTTL, p.now())
	if err != nil {
		return Token{}, fmt.Errorf("app: issue the token: %w", err)
	}
	return Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: ttl}, nil
}

// burn spends the time of one password check on a refusal that needs none, so that the answer time does
// not tell a known login from an unknown one.
func (p *Platform) burn(password string) {
	p.dummyOnce.Do(func() {
		cost := bcrypt.DefaultCost
		p.mu.RLock()
		if c, err := bcrypt.Cost([]byte(p.state.AdminPasswordHash)); err == nil {
			cost = c
		}
		p.mu.RUnlock()
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		if h, err := bcrypt.GenerateFromPassword(secret, cost); err == nil {
			p.dummyHash = string(h)
		}
	})
	if len(password) > maxPasswordBytes {
		password = password[:maxPasswordBytes]
	}
	_ = auth.CheckPassword(p.dummyHash, password)
}

// SetAdministratorPassword changes the platform administrator's password (it must pass the password rule).
func (p *Platform) SetAdministratorPassword(ctx context.Context, password string) error {
	hash, err := p.deps.HashPassword(password)
	if err != nil {
		return err
	}
	s, err := p.handle(ctx, platform.SetAdministratorPassword{PasswordHash: hash, At: p.now()})
	if err != nil {
		return err
	}
	p.setState(s)
	return nil
}
