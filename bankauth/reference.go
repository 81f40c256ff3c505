package bankauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/kazna-ledger/kazna/auth"
)

// ReferenceOptions configures the reference bank authorization service.
type ReferenceOptions struct {
	// JWKS returns Kazna's public keys (required). With an in-process keyring:
	// func() (auth.JWKSet, error) { return keyring.JWKS(), nil }.
	JWKS func() (auth.JWKSet, error)
	// DirectoryPath, if set, is a JSON file that keeps the user directory across restarts. It holds customers'
	// keys, so it is written with mode 0600 and refused if group or others can read it.
	DirectoryPath string
	// MaxUsers bounds the directory. Default 100 000.
	MaxUsers int
	// Now is the clock for token checks. Default time.Now.
	Now func() time.Time
	// Signer, if set, serves the bank's multisignature POST /sign (ReferenceSigner), and the service also
	// takes the guide's §12 notices (POST /api/dcm/notify/…, answered 200), so that its base URL can be the
	// demo bank's callback_url.
	Signer *ReferenceSigner
}

const (
	defaultMaxUsers     = 100_000
	maxDirectoryBytes   = 64 << 20
	referenceKeyBytes   = 32
	directoryFileFormat = 1
)

// ReferenceService is a reference (demo) bank authorization service, so that Kazna's embedded defaults work end to
// end without a bank. It is NOT a bank: it authorizes every subject Kazna names, and it invents customers on sign-up.
// A real bank must check that the subject may act on the object, and keep keys in its own vault.
//
// It serves GET /user_auth, /key and /external_id. Each request must carry a session token in X-Session-ID signed
// by Kazna (checked against JWKS); otherwise it answers 401. On a sign-up flow, /user_auth registers an unknown
// login with a generated external_id and a random 32-byte key (base64); on other flows, and on /key and
// /external_id, it answers only for known users, else 401.
type ReferenceService struct {
	jwks     func() (auth.JWKSet, error)
	path     string
	maxUsers int
	now      func() time.Time
	mux      *http.ServeMux

	mu         sync.Mutex
	byLogin    map[string]referenceUser
	byExternal map[string]string // external id → login
}

// referenceUser is one directory entry, as stored in the file.
type referenceUser struct {
	Login      string `json:"login"`
	ExternalID string `json:"external_id"`
	Key        string `json:"key"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
}

type directoryFile struct {
	Version int             `json:"v"`
	Users   []referenceUser `json:"users"`
}

// NewReferenceService builds the service, loading the directory file if one is configured and exists.
func NewReferenceService(opts ReferenceOptions) (*ReferenceService, error) {
	if opts.JWKS == nil {
		return nil, errors.New("bankauth: reference service: JWKS is required")
	}
	if opts.MaxUsers <= 0 {
		opts.MaxUsers = defaultMaxUsers
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &ReferenceService{
		jwks: opts.JWKS, path: opts.DirectoryPath, maxUsers: opts.MaxUsers, now: opts.Now,
		byLogin: map[string]referenceUser{}, byExternal: map[string]string{},
	}
	if s.path != "" {
		if err := s.load(); err != nil {
			return nil, fmt.Errorf("bankauth: reference service: %w", err)
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /user_auth", s.userAuth)
	s.mux.HandleFunc("GET /key", s.key)
	s.mux.HandleFunc("GET /external_id", s.externalID)
	if opts.Signer != nil {
		s.mux.Handle("POST /sign", opts.Signer)
		s.mux.HandleFunc("POST /api/dcm/notify/", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4<<10))
			w.WriteHeader(http.StatusOK)
		})
	}
	return s, nil
}

// ServeHTTP serves the three methods of guide §4.
func (s *ReferenceService) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// session verifies X-Session-ID; it writes the refusal and returns false when the token is not good.
func (s *ReferenceService) session(w http.ResponseWriter, r *http.Request) (auth.Session, bool) {
	keys, err := s.jwks()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "platform keys unavailable"})
		return auth.Session{}, false
	}
	sess, err := auth.VerifySession(r.Header.Get(sessionHeader), keys, s.now())
	if err != nil {
		refuse(w)
		return auth.Session{}, false
	}
	return sess, true
}

func (s *ReferenceService) userAuth(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, known := s.byLogin[sess.Object]
	if !known {
		if !sess.Flow.SignUp() {
			refuse(w)
			return
		}
		var err error
		if u, err = s.registerLocked(sess.Object); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "cannot register user"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"external_id": u.ExternalID, "key": u.Key,
		"first_name": u.FirstName, "last_name": u.LastName, "email": u.Email, "phone": u.Phone,
	})
}

func (s *ReferenceService) key(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.byExternalID(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]string{"key": u.Key})
	}
}

func (s *ReferenceService) externalID(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.byExternalID(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]string{"external_id": u.ExternalID})
	}
}

// byExternalID finds the user the session's obj names by external id, refusing unknown ones.
func (s *ReferenceService) byExternalID(w http.ResponseWriter, r *http.Request) (referenceUser, bool) {
	sess, ok := s.session(w, r)
	if !ok {
		return referenceUser{}, false
	}
	s.mu.Lock()
	u, known := s.byLogin[s.byExternal[sess.Object]]
	s.mu.Unlock()
	if !known {
		refuse(w)
		return referenceUser{}, false
	}
	return u, true
}

// registerLocked adds a user with a fresh external id and key, and saves the directory. s.mu must be held.
func (s *ReferenceService) registerLocked(login string) (referenceUser, error) {
	if len(s.byLogin) >= s.maxUsers {
		return referenceUser{}, fmt.Errorf("directory full (%d users)", s.maxUsers)
	}
	key := make([]byte, referenceKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return referenceUser{}, err
	}
	u := referenceUser{Login: login, ExternalID: uuid.NewString(), Key: base64.StdEncoding.EncodeToString(key)}
	s.byLogin[login] = u
	s.byExternal[u.ExternalID] = login
	if err := s.saveLocked(); err != nil {
		delete(s.byLogin, login)
		delete(s.byExternal, u.ExternalID)
		return referenceUser{}, err
	}
	return u, nil
}

func (s *ReferenceService) load() error {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat directory: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("directory %s holds customers' keys but has mode %v; chmod 600 it", s.path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDirectoryBytes+1))
	if err != nil {
		return fmt.Errorf("read directory: %w", err)
	}
	if len(data) > maxDirectoryBytes {
		return fmt.Errorf("directory %s larger than %d bytes", s.path, maxDirectoryBytes)
	}
	var d directoryFile
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("directory %s is not valid JSON", s.path)
	}
	if d.Version != directoryFileFormat {
		return fmt.Errorf("directory %s has format %d, want %d", s.path, d.Version, directoryFileFormat)
	}
	if len(d.Users) > s.maxUsers {
		return fmt.Errorf("directory %s has %d users, more than %d", s.path, len(d.Users), s.maxUsers)
	}
	for _, u := range d.Users {
		if u.Login == "" || u.ExternalID == "" || u.Key == "" {
			return fmt.Errorf("directory %s has an entry without login, external_id or key", s.path)
		}
		if _, dup := s.byExternal[u.ExternalID]; dup {
			return fmt.Errorf("directory %s has external_id %s twice", s.path, u.ExternalID)
		}
		if _, dup := s.byLogin[u.Login]; dup {
			return fmt.Errorf("directory %s has a login twice", s.path)
		}
		s.byLogin[u.Login] = u
		s.byExternal[u.ExternalID] = u.Login
	}
	return nil
}

// saveLocked writes the directory atomically (temp file 0600, fsync, rename). s.mu must be held.
func (s *ReferenceService) saveLocked() error {
	if s.path == "" {
		return nil
	}
	d := directoryFile{Version: directoryFileFormat, Users: make([]referenceUser, 0, len(s.byLogin))}
	for _, u := range s.byLogin {
		d.Users = append(d.Users, u)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".bankauth-directory-*")
	if err != nil {
		return fmt.Errorf("save directory: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save directory: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save directory: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save directory: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save directory: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save directory: %w", err)
	}
	return nil
}

func refuse(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
}

func writeJSON(w http.ResponseWriter, status int, v map[string]string) {
	for k, val := range v {
		if val == "" {
			delete(v, k)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
