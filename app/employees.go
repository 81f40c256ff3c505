package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/employee"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// Bounds and defaults of the directory (employees, roles, branches).
const (
	DefaultVerificationTTL = 24 * time.Hour
	verificationTokenBytes = 32
	maxCodeBytes           = 512
)

var (
	// ErrUnknownRole is a role named for an employee that the bank does not have.
	ErrUnknownRole = errors.New("app: unknown role")
	// ErrUnknownBranch is a branch that does not exist in the bank, or is deleted.
	ErrUnknownBranch = errors.New("app: unknown or deleted branch")
	// ErrVerificationRefused is every refused set-password: unknown e-mail, wrong, used or expired token,
	// disabled employee. One error, so that a guesser learns nothing.
	ErrVerificationRefused = errors.New("app: the verification code is not valid")
)

// PasswordRuleError is a password that breaks the password rule; Rule is auth's error (which names it).
type PasswordRuleError struct{ Rule error }

func (e *PasswordRuleError) Error() string { return e.Rule.Error() }
func (e *PasswordRuleError) Unwrap() error { return e.Rule }

// DirectoryDeps is what the directory services need.
type DirectoryDeps struct {
	Store     command.Store
	Employees *projections.Employees
	Branches  *projections.Branches
	Roles     *projections.Roles
	// WaitFor blocks until the read models reach a write's position (projections.Runner.WaitFor); nil
	// waits for nothing (reads may then lag the write).
	WaitFor func(ctx context.Context, pos eventstore.Position) error
	// Catalogue says which permission names a bank role may hold (see rbac.Catalogue).
	Catalogue rbac.Catalogue
	// Mailer delivers verification links; nil is a LogMailer on Logger.
	Mailer Mailer
	// ResetURL is the back office's base URL; the link is <ResetURL>/reset-password/?email=…&token=….
	ResetURL        string
	VerificationTTL time.Duration // default DefaultVerificationTTL, at most employee.MaxVerificationTT
	Now             func() time.Time
	HashPassword    func(string) (string, error) // nil: auth.HashPassword
	Logger          *slog.Logger
}

// Directory runs the use cases of guide §6 and §16: employees, roles and branches of every bank.
type Directory struct {
	d DirectoryDeps
}

// NewDirectory checks deps and fills defaults.
func NewDirectory(d DirectoryDeps) (*Directory, error) {
	if d.Store == nil || d.Employees == nil || d.Branches == nil || d.Roles == nil {
		return nil, errors.New("app: the directory needs the store and the employees, branches and roles read models")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Mailer == nil {
		d.Mailer = LogMailer{Logger: d.Logger}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HashPassword == nil {
		d.HashPassword = auth.HashPassword
	}
	if d.VerificationTTL == 0 {
		d.VerificationTTL = DefaultVerificationTTL
	}
	if d.VerificationTTL < 0 || d.VerificationTTL > employee.MaxVerificationTT {
		return nil, fmt.Errorf("app: verification TTL %v outside (0, %v]", d.VerificationTTL, employee.MaxVerificationTT)
	}
	return &Directory{d: d}, nil
}

// Write is what a write carries besides its body.
type Write struct {
	// IdempotencyKey makes a retry of the same request answer as the first did and write nothing more.
	IdempotencyKey string
	// Metadata is written on every event of the request: who acted, for which bank, under which request
	// ID (the auditor's "who, when, why"). A zero Time is the store's clock.
	Metadata eventstore.Metadata
}

// Written is the result of a write: the log position to read it back at (zero when nothing changed).
type Written struct {
	GUID     string
	Position eventstore.Position
}

// envelope derives the envelope of one step of a request: every stream a request writes gets its own key
// (key + step), and the fingerprint is the request's own content, not the command, whose time a retry changes.
func envelope(w Write, step string, request any) command.Envelope {
	if w.IdempotencyKey == "" {
		return command.Envelope{Metadata: w.Metadata}
	}
	fp, _ := json.Marshal(request) // plain structs of strings and bools: cannot fail
	return command.Envelope{Metadata: w.Metadata, IdempotencyKey: w.IdempotencyKey + "/" + step, Fingerprint: fp}
}

// newGUID is random, or derived from the idempotency key so that a retry names the same record (and so
// finds its own login claim rather than being refused by it).
func newGUID(w Write, scope string) uuid.UUID {
	if w.IdempotencyKey == "" {
		return uuid.New()
	}
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(scope+"\x00"+w.IdempotencyKey))
}

// peek folds a stream with a decider and returns its state, writing nothing: the authority for a check
// (role exists, branch not deleted) is the aggregate, not a read model that may lag.
func peek[S, E any](ctx context.Context, store command.Store, stream string, d command.Decider[S, any, E], codec command.Codec[E]) (S, error) {
	var seen S
	probe := command.Decider[S, any, E]{Initial: d.Initial, Evolve: d.Evolve,
		Decide: func(s S, _ any) ([]E, error) { seen = s; return nil, nil }}
	_, err := command.Handle(ctx, store, stream, probe, codec, any(nil), command.Envelope{})
	return seen, err
}

func (s *Directory) wait(ctx context.Context, pos eventstore.Position) error {
	if s.d.WaitFor == nil || pos == (eventstore.Position{}) {
		return nil
	}
	return s.d.WaitFor(ctx, pos)
}

func later(a, b eventstore.Position) eventstore.Position {
	if a.Less(b) {
		return b
	}
	return a
}

// EmployeeInput is a new employee (guide §6.1 POST /employees).
type EmployeeInput struct {
	Login        string   `json:"login"`
	Email        string   `json:"email"`
	Name         string   `json:"name"`
	Surname      string   `json:"surname"`
	PaternalName string   `json:"paternal_name"`
	Phone        string   `json:"phone"`
	BranchGUID   string   `json:"branch_guid"`
	Roles        []string `json:"roles"`
}

// EmployeePatch changes the fields that are set (guide §6.1 PUT: a merge).
type EmployeePatch struct {
	Login        *string `json:"login,omitempty"`
	Name         *string `json:"name,omitempty"`
	Surname      *string `json:"surname,omitempty"`
	PaternalName *string `json:"paternal_name,omitempty"`
	Phone        *string `json:"phone,omitempty"`
	BranchGUID   *string `json:"branch_guid,omitempty"`
	Disabled     *bool   `json:"is_disabled,omitempty"`
}

func parseOptionalGUID(field, s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.Nil, nil
	}
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, &employee.ErrInvalid{Field: field, Reason: "must be a GUID"}
	}
	return u, nil
}

// CreateEmployee claims the login within the bank, checks the roles and branch, writes the employee, makes
// it a member of its roles and sends a verification link. A refusal writes nothing (a claim taken on the
// way is released).
func (s *Directory) CreateEmployee(ctx context.Context, cp uuid.UUID, in EmployeeInput, w Write) (Written, error) {
	branchGUID, err := parseOptionalGUID("branch_guid", in.BranchGUID)
	if err != nil {
		return Written{}, err
	}
	guid := newGUID(w, "employee/"+cp.String())
	now := s.d.Now()
	cmd := employee.Create{GUID: guid, CounterpartyGUID: cp, Roles: in.Roles, At: now, Profile: employee.ProfileInput{
		Login: in.Login, Email: in.Email, Name: in.Name, Surname: in.Surname, PaternalName: in.PaternalName,
		Phone: in.Phone, BranchGUID: branchGUID}}
	// Decide once on the empty state to validate before touching any stream: pure, no I/O.
	evs, err := employee.Decide(employee.State{}, cmd)
	if err != nil {
		return Written{}, err
	}
	created := evs[0].(employee.EmployeeCreated)
	if err := s.checkRoles(ctx, cp, created.Roles); err != nil {
		return Written{}, err
	}
	if err := s.checkBranch(ctx, cp, branchGUID); err != nil {
		return Written{}, err
	}
	login := created.Profile.Login
	if err := s.claim(ctx, employee.LoginStream(cp, login), guid.String(), login, now, employee.ErrLoginTaken); err != nil {
		return Written{}, err
	}
	res, err := command.Handle(ctx, s.d.Store, employee.Stream(guid), employee.Decider, employee.Events, any(cmd), envelope(w, "create", in))
	if err != nil {
		s.release(ctx, employee.LoginStream(cp, login), guid.String(), now)
		return Written{}, err
	}
	pos := res.Position
	for _, role := range created.Roles {
		p, err := s.addMember(ctx, cp, role, guid, w)
		if err != nil {
			return Written{GUID: guid.String(), Position: pos}, err
		}
		pos = later(pos, p)
	}
	if !res.Replayed && created.Profile.Email != "" {
		if err := s.issue(ctx, guid, created.Profile.Email); err != nil {
			// The employee exists; a failed mail is re-sent through POST /auth/verification.
			s.d.Logger.WarnContext(ctx, "verification not sent", "employee_guid", guid.String(), "err", err)
		}
	}
	return Written{GUID: guid.String(), Position: pos}, s.wait(ctx, pos)
}

// claim reserves a unique value for owner; taken becomes the owner's own error.
func (s *Directory) claim(ctx context.Context, stream, owner, value string, at time.Time, taken error) error {
	return claimUnique(ctx, s.d.Store, stream, owner, value, at, taken)
}

// release frees a claim after a refused write; a failure only leaves a claim the same owner re-uses.
func (s *Directory) release(ctx context.Context, stream, owner string, at time.Time) {
	releaseClaim(ctx, s.d.Store, s.d.Logger, stream, owner, at)
}

// claimUnique reserves a unique value (a login, a branch name, an IBAN) for owner with its reservation stream
// (package uniqueness); a value another owner holds becomes taken, the caller's own error.
func claimUnique(ctx context.Context, store command.Store, stream, owner, value string, at time.Time, taken error) error {
	_, err := command.Handle(ctx, store, stream, uniqueness.Decider, uniqueness.Events,
		any(uniqueness.Claim{Owner: owner, Value: value, At: at}), command.Envelope{})
	if errors.Is(err, uniqueness.ErrTaken) {
		return taken
	}
	if err != nil {
		return fmt.Errorf("app: claim %q: %w", value, err)
	}
	return nil
}

// releaseClaim frees owner's claim, even when ctx has ended (the write it guarded was refused). A failure
// only leaves a claim the same owner re-uses, so it is logged, not returned.
func releaseClaim(ctx context.Context, store command.Store, log *slog.Logger, stream, owner string, at time.Time) {
	_, err := command.Handle(context.WithoutCancel(ctx), store, stream, uniqueness.Decider, uniqueness.Events,
		any(uniqueness.Release{Owner: owner, At: at}), command.Envelope{})
	if err != nil {
		log.WarnContext(ctx, "release of a unique claim failed", "owner", owner, "err", err)
	}
}

func (s *Directory) rbacState(ctx context.Context, cp uuid.UUID) (rbac.State, error) {
	return peek(ctx, s.d.Store, rbac.Stream(cp), rbac.Decider, rbac.Events)
}

// checkRoles refuses roles the bank's rbac does not have, and branch-access roles (a branch is given
// through branch_guid).
func (s *Directory) checkRoles(ctx context.Context, cp uuid.UUID, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	st, err := s.rbacState(ctx, cp)
	if err != nil {
		return err
	}
	for _, name := range roles {
		r, ok := st.Roles[name]
		if !ok {
			for n, rr := range st.Roles {
				if strings.EqualFold(n, name) {
					r, ok = rr, true
				}
			}
		}
		if !ok || r.BranchGUID != "" {
			return fmt.Errorf("%w: %q", ErrUnknownRole, truncate(name))
		}
	}
	return nil
}

func (s *Directory) checkBranch(ctx context.Context, cp, guid uuid.UUID) error {
	return checkBranch(ctx, s.d.Store, cp, guid)
}

// checkBranch refuses a branch that does not exist, is deleted or belongs to another bank, reading the branch
// stream (the authority, not a read model that may lag). The zero GUID is "no branch" and passes.
func checkBranch(ctx context.Context, store command.Store, cp, guid uuid.UUID) error {
	if guid == uuid.Nil {
		return nil
	}
	b, err := peek(ctx, store, branch.Stream(guid), branch.Decider, branch.Events)
	if err != nil {
		return err
	}
	if !b.Exists || b.Deleted || !strings.EqualFold(b.CounterpartyGUID, cp.String()) {
		return ErrUnknownBranch
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// employeeState loads an employee of bank cp; another bank's employee is not found.
func (s *Directory) employeeState(ctx context.Context, cp, guid uuid.UUID) (employee.State, error) {
	st, err := peek(ctx, s.d.Store, employee.Stream(guid), employee.Decider, employee.Events)
	if err != nil {
		return st, err
	}
	if !st.Exists || !strings.EqualFold(st.CounterpartyGUID, cp.String()) {
		return st, employee.ErrNotFound
	}
	return st, nil
}

// UpdateEmployee merges patch into the employee: profile fields, login (claimed anew, the old released),
// branch (must exist) and is_disabled.
func (s *Directory) UpdateEmployee(ctx context.Context, cp, guid uuid.UUID, patch EmployeePatch, w Write) (Written, error) {
	st, err := s.employeeState(ctx, cp, guid)
	if err != nil {
		return Written{}, err
	}
	p := st.Profile
	in := employee.ProfileInput{Login: p.Login, Email: p.Email, Name: p.Name, Surname: p.Surname,
		PaternalName: p.PaternalName, Phone: p.Phone}
	if p.BranchGUID != "" {
		in.BranchGUID, _ = uuid.Parse(p.BranchGUID)
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&in.Login, patch.Login)
	set(&in.Name, patch.Name)
	set(&in.Surname, patch.Surname)
	set(&in.PaternalName, patch.PaternalName)
	set(&in.Phone, patch.Phone)
	if patch.BranchGUID != nil {
		if in.BranchGUID, err = parseOptionalGUID("branch_guid", *patch.BranchGUID); err != nil {
			return Written{}, err
		}
		if in.BranchGUID.String() != p.BranchGUID {
			if err := s.checkBranch(ctx, cp, in.BranchGUID); err != nil {
				return Written{}, err
			}
		}
	}
	now := s.d.Now()
	upd := employee.Update{Profile: in, At: now}
	evs, err := employee.Decide(st, upd) // validate before any claim
	if err != nil {
		return Written{}, err
	}
	var pos eventstore.Position
	if len(evs) > 0 {
		newLogin := evs[0].(employee.EmployeeUpdated).Profile.Login
		moved := newLogin != p.Login
		if moved {
			if err := s.claim(ctx, employee.LoginStream(cp, newLogin), guid.String(), newLogin, now, employee.ErrLoginTaken); err != nil {
				return Written{}, err
			}
		}
		res, err := command.Handle(ctx, s.d.Store, employee.Stream(guid), employee.Decider, employee.Events, any(upd), envelope(w, "update", patch))
		if err != nil {
			if moved {
				s.release(ctx, employee.LoginStream(cp, newLogin), guid.String(), now)
			}
			return Written{}, err
		}
		if moved {
			s.release(ctx, employee.LoginStream(cp, p.Login), guid.String(), now)
		}
		pos = res.Position
	}
	if patch.Disabled != nil {
		var cmd any = employee.Enable{At: now}
		if *patch.Disabled {
			cmd = employee.Disable{At: now}
		}
		res, err := command.Handle(ctx, s.d.Store, employee.Stream(guid), employee.Decider, employee.Events, cmd, envelope(w, "disable", patch))
		if err != nil {
			return Written{GUID: guid.String(), Position: pos}, err
		}
		pos = later(pos, res.Position)
	}
	return Written{GUID: guid.String(), Position: pos}, s.wait(ctx, pos)
}

// Employee returns one employee of a bank.
func (s *Directory) Employee(ctx context.Context, cp, guid string) (projections.Employee, bool) {
	return s.d.Employees.Employee(ctx, cp, guid)
}

// ListEmployees lists a bank's employees (the read model checks the bounds).
func (s *Directory) ListEmployees(ctx context.Context, q projections.EmployeeQuery) ([]projections.Employee, int, error) {
	return s.d.Employees.List(ctx, q)
}

// newToken is 32 random bytes, base64url: the raw token only the mail carries.
func newToken() (string, error) {
	b := make([]byte, verificationTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// issue records a new token's hash for the employee and mails the raw token.
func (s *Directory) issue(ctx context.Context, guid uuid.UUID, email string) error {
	tok, err := newToken()
	if err != nil {
		return err
	}
	_, err = command.Handle(ctx, s.d.Store, employee.Stream(guid), employee.Decider, employee.Events,
		any(employee.IssueVerification{Token: tok, TTL: s.d.VerificationTTL, At: s.d.Now()}), command.Envelope{})
	if err != nil {
		return err
	}
	return s.d.Mailer.SendVerification(ctx, email, VerificationLink(s.d.ResetURL, email, tok))
}

// maxVerificationMatches bounds the employees one e-mail can reach (logins are unique per bank, so one
// address may serve in several banks).
const maxVerificationMatches = 16

// candidates are the employees who sign in with email (their login), in every bank or only in cp.
func (s *Directory) candidates(ctx context.Context, cp, email string) []projections.EmployeeLogin {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || len(email) > employee.MaxLoginBytes {
		return nil
	}
	if cp != "" {
		if l, ok := s.d.Employees.Login(ctx, cp, email); ok {
			return []projections.EmployeeLogin{l}
		}
		return nil
	}
	m := s.d.Employees.LoginsAnywhere(ctx, email)
	return m[:min(len(m), maxVerificationMatches)]
}

// RequestVerification sends a new verification link to every enabled employee who signs in with email.
// It answers the same whether or not anyone does, so that it does not reveal who is employed.
func (s *Directory) RequestVerification(ctx context.Context, email string) error {
	for _, c := range s.candidates(ctx, "", email) {
		if c.Disabled {
			continue
		}
		e, ok := s.d.Employees.Employee(ctx, c.CounterpartyGUID, c.GUID)
		if !ok || e.Email == "" {
			continue
		}
		g, err := uuid.Parse(c.GUID)
		if err != nil {
			continue
		}
		if err := s.issue(ctx, g, e.Email); err != nil {
			s.d.Logger.WarnContext(ctx, "verification not sent", "employee_guid", c.GUID, "err", err)
		}
	}
	return nil
}

// SetPassword sets the password of the employee whose login is email and whose current token is code. The
// password rule is checked first (*PasswordRuleError); every other refusal is ErrVerificationRefused.
func (s *Directory) SetPassword(ctx context.Context, email, code, password string) (Written, error) {
	if err := auth.ValidatePassword(password); err != nil {
		return Written{}, &PasswordRuleError{Rule: err}
	}
	if code == "" || len(code) > maxCodeBytes {
		return Written{}, ErrVerificationRefused
	}
	var hash string
	for _, c := range s.candidates(ctx, "", email) {
		g, err := uuid.Parse(c.GUID)
		if err != nil {
			continue
		}
		// Hash only for a candidate whose token matches, so a wrong code costs no bcrypt.
		st, err := peek(ctx, s.d.Store, employee.Stream(g), employee.Decider, employee.Events)
		if err != nil {
			return Written{}, err
		}
		if st.Verification.TokenSHA256 != employee.HashToken(code) {
			continue
		}
		if hash == "" {
			if hash, err = s.d.HashPassword(password); err != nil {
				return Written{}, &PasswordRuleError{Rule: err}
			}
		}
		res, err := command.Handle(ctx, s.d.Store, employee.Stream(g), employee.Decider, employee.Events,
			any(employee.SetPassword{Token: code, PasswordHash: hash, At: s.d.Now()}), command.Envelope{})
		switch {
		case errors.Is(err, employee.ErrTokenInvalid), errors.Is(err, employee.ErrTokenUsed),
			errors.Is(err, employee.ErrTokenExpired), errors.Is(err, employee.ErrDisabled):
			return Written{}, fmt.Errorf("%w (%w)", ErrVerificationRefused, err)
		case err != nil:
			return Written{}, err
		}
		return Written{GUID: c.GUID, Position: res.Position}, s.wait(ctx, res.Position)
	}
	return Written{}, ErrVerificationRefused
}

type loginCounterpartyKey struct{}

// WithLoginCounterparty names the bank a login is for (the login request's optional counterparty_guid);
// EmployeeLogins.Credentials then looks only there.
func WithLoginCounterparty(ctx context.Context, counterpartyGUID string) context.Context {
	return context.WithValue(ctx, loginCounterpartyKey{}, strings.ToLower(counterpartyGUID))
}

// EmployeeLogins is the EmployeeCredentials of bank employees, over the employees and roles read models.
type EmployeeLogins struct {
	Employees *projections.Employees
	Roles     *projections.Roles
}

// Credentials finds the employee who signs in with login: in the bank named by WithLoginCounterparty, or
// in any bank when the login is used in only one. A login used in several banks without a bank named is
// refused as unknown, so the caller gets the same 401 as for a wrong password. The branch is the one the
// employee record holds now (a branch-access role sets it), so a token always carries the current branch.
func (e EmployeeLogins) Credentials(ctx context.Context, login string) (Credential, error) {
	login = strings.ToLower(strings.TrimSpace(login))
	var match projections.EmployeeLogin
	if cp, _ := ctx.Value(loginCounterpartyKey{}).(string); cp != "" {
		l, ok := e.Employees.Login(ctx, cp, login)
		if !ok {
			return Credential{}, ErrUnknownLogin
		}
		match = l
	} else {
		all := e.Employees.LoginsAnywhere(ctx, login)
		if len(all) != 1 {
			return Credential{}, ErrUnknownLogin
		}
		match = all[0]
	}
	emp, ok := e.Employees.Employee(ctx, match.CounterpartyGUID, match.GUID)
	if !ok {
		// The login row and the employee row come from the same read model; one without the other means
		// the model changed between the two reads. Refuse rather than issue a token without the branch.
		return Credential{}, ErrUnknownLogin
	}
	// The rbac aggregate is the authority for membership; the employee's own list is what was asked for.
	roles := match.Roles
	if e.Roles != nil {
		roles = e.Roles.MemberRoles(ctx, match.CounterpartyGUID, match.GUID)
	}
	return Credential{Subject: match.GUID, CounterpartyGUID: match.CounterpartyGUID, Roles: slices.Clone(roles),
		Branch: strings.ToLower(emp.BranchGUID), PasswordHash: match.PasswordHash, Disabled: match.Disabled}, nil
}
