package app

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// BranchPatch is guide §16.1's PUT body: a rename, a soft delete or a restore; nil fields stay.
type BranchPatch struct {
	Name    *string `json:"name,omitempty"`
	Deleted *bool   `json:"is_deleted,omitempty"`
}

// CreateBranch claims the name within the bank and creates the branch; a refusal writes nothing.
func (s *Directory) CreateBranch(ctx context.Context, cp uuid.UUID, name string, w Write) (Written, error) {
	guid := newGUID(w, "branch/"+cp.String())
	now := s.d.Now()
	cmd := branch.Create{GUID: guid, CounterpartyGUID: cp, Name: name, At: now}
	evs, err := branch.Decide(branch.State{}, cmd) // validate before the claim
	if err != nil {
		return Written{}, err
	}
	clean := evs[0].(branch.BranchCreated).Name
	if err := s.claim(ctx, branch.NameStream(cp, clean), guid.String(), clean, now, branch.ErrNameTaken); err != nil {
		return Written{}, err
	}
	res, err := command.Handle(ctx, s.d.Store, branch.Stream(guid), branch.Decider, branch.Events, any(cmd), envelope(w, "create", name))
	if err != nil {
		s.release(ctx, branch.NameStream(cp, clean), guid.String(), now)
		return Written{}, err
	}
	return Written{GUID: guid.String(), Position: res.Position}, s.wait(ctx, res.Position)
}

// UpdateBranch renames (claiming the new name, releasing the old), soft-deletes or restores a branch. A
// deleted branch keeps its name claimed, so that a restore cannot collide.
func (s *Directory) UpdateBranch(ctx context.Context, cp, guid uuid.UUID, patch BranchPatch, w Write) (Written, error) {
	st, err := peek(ctx, s.d.Store, branch.Stream(guid), branch.Decider, branch.Events)
	if err != nil {
		return Written{}, err
	}
	if !st.Exists || !strings.EqualFold(st.CounterpartyGUID, cp.String()) {
		return Written{}, branch.ErrNotFound
	}
	now := s.d.Now()
	var pos eventstore.Position
	write := func(cmd any, step string) error {
		res, err := command.Handle(ctx, s.d.Store, branch.Stream(guid), branch.Decider, branch.Events, cmd, envelope(w, step, patch))
		pos = later(pos, res.Position)
		return err
	}
	// Restore first, so that "restore and rename" works; delete last, so that "rename and delete" does.
	if patch.Deleted != nil && !*patch.Deleted {
		if err := write(branch.Restore{At: now}, "restore"); err != nil {
			return Written{}, err
		}
		st.Deleted = false
	}
	if patch.Name != nil {
		rename := branch.Rename{Name: *patch.Name, At: now}
		evs, err := branch.Decide(st, rename)
		if err != nil {
			return Written{}, err
		}
		if len(evs) > 0 {
			name := evs[0].(branch.BranchRenamed).Name
			moved := uniqueKey(name) != uniqueKey(st.Name)
			if moved {
				if err := s.claim(ctx, branch.NameStream(cp, name), guid.String(), name, now, branch.ErrNameTaken); err != nil {
					return Written{}, err
				}
			}
			if err := write(rename, "rename"); err != nil {
				if moved {
					s.release(ctx, branch.NameStream(cp, name), guid.String(), now)
				}
				return Written{}, err
			}
			if moved {
				s.release(ctx, branch.NameStream(cp, st.Name), guid.String(), now)
			}
		}
	}
	if patch.Deleted != nil && *patch.Deleted {
		if err := write(branch.Delete{At: now}, "delete"); err != nil {
			return Written{}, err
		}
	}
	return Written{GUID: guid.String(), Position: pos}, s.wait(ctx, pos)
}

func uniqueKey(name string) string { return branch.NameStream(uuid.Nil, name) }

// Branch returns one branch of a bank, deleted or not.
func (s *Directory) Branch(ctx context.Context, cp, guid string) (projections.Branch, bool) {
	return s.d.Branches.Branch(ctx, cp, guid)
}

// ListBranches lists a bank's branches; deleted ones only when q.IncludeDeleted.
func (s *Directory) ListBranches(ctx context.Context, q projections.BranchQuery) ([]projections.Branch, int, error) {
	return s.d.Branches.List(ctx, q)
}
