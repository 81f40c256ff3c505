package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/category"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// MaxCategories bounds the transfer categories, deleted ones included (they are listed too). Guide §13 has
// eighteen; the bound keeps the list one small answer.
const MaxCategories = 1000

// ErrTooManyCategories is a new category beyond MaxCategories.
var ErrTooManyCategories = fmt.Errorf("app: at most %d transfer categories", MaxCategories)

// seedActor is the actor recorded on the standard categories' events: Kazna itself, not a person.
const seedActor = "kazna"

// CategoryDeps is what the category services need.
type CategoryDeps struct {
	Store      command.Store
	Categories *projections.Categories
	// WaitFor blocks until the read models reach a write's position (projections.Runner.WaitFor); nil waits
	// for nothing (reads may then lag the write).
	WaitFor func(ctx context.Context, pos eventstore.Position) error
	Now     func() time.Time
	Logger  *slog.Logger
}

// Categories runs the use cases of guide §13: the transfer categories every bank files payments under.
// Only the platform edits them; the API enforces that.
type Categories struct {
	d CategoryDeps
}

// NewCategories checks deps and fills defaults.
func NewCategories(d CategoryDeps) (*Categories, error) {
	if d.Store == nil || d.Categories == nil {
		return nil, errors.New("app: the category service needs the store and the categories read model")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Logger = d.Logger.With("component", "categories")
	return &Categories{d: d}, nil
}

// CategoryPatch is the body of PUT …/category/{guid}: nil fields stay as they are.
type CategoryPatch struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

func (c *Categories) now() time.Time { return c.d.Now().UTC() }

// Seed defines guide §13's standard categories that the log does not have yet. Their GUIDs derive from their
// codes and each is appended at NoStream, so nodes that seed at once agree on one set, and a restart adds
// nothing. A standard category deleted by the platform stays deleted. A standard code already taken by
// another live category is left to it (logged).
func (c *Categories) Seed(ctx context.Context) error {
	env := command.Envelope{Metadata: eventstore.Metadata{Actor: seedActor}}
	var last eventstore.Position
	for _, def := range category.Standard() {
		guid := category.StandardGUID(def.Name)
		st, err := peek(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events)
		if err != nil {
			return fmt.Errorf("app: seed category %s: %w", def.Name, err)
		}
		if st.Exists {
			// Seeded by another node or an earlier start: this node's read model must show it too.
			if last, err = c.seen(ctx, category.Stream(guid), last); err != nil {
				return err
			}
			continue
		}
		now := c.now()
		if err := c.claimName(ctx, def.Name, guid, now); errors.Is(err, category.ErrNameTaken) {
			c.d.Logger.WarnContext(ctx, "standard category not seeded: another category has its name", "name", def.Name)
			continue
		} else if err != nil {
			return fmt.Errorf("app: seed category %s: %w", def.Name, err)
		}
		env.Metadata.Time = now
		res, err := command.Handle(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events,
			any(category.Define{GUID: guid, Name: def.Name, Description: def.Description, At: now}), env)
		if errors.Is(err, category.ErrAlreadyExists) { // another node seeded it first
			if last, err = c.seen(ctx, category.Stream(guid), last); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("app: seed category %s: %w", def.Name, err)
		}
		last = later(last, res.Position)
	}
	return c.wait(ctx, last)
}

// seen returns the later of last and the position of the stream's last event, so that Seed can wait until
// its read model shows what other nodes seeded as well as what it wrote.
func (c *Categories) seen(ctx context.Context, stream string, last eventstore.Position) (eventstore.Position, error) {
	evs, err := c.d.Store.ReadStream(ctx, stream, eventstore.Backwards, eventstore.StreamEnd, 1)
	if err != nil {
		return last, fmt.Errorf("app: seed: read %s: %w", stream, err)
	}
	if len(evs) == 1 {
		last = later(last, evs[0].Position)
	}
	return last, nil
}

// categoryRequest is what a keyed Define is recognised by: the request's body, not the command (whose time a
// retry changes).
type categoryRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Define claims the name and defines a category; a refusal writes nothing (a claim taken on the way is
// released). With an Idempotency-Key the GUID derives from the key, so a retry answers the same GUID.
func (c *Categories) Define(ctx context.Context, name, description string, w Write) (Written, error) {
	guid := newGUID(w, "category")
	now := c.now()
	cmd := category.Define{GUID: guid, Name: name, Description: description, At: now}
	evs, err := category.Decide(category.State{}, cmd) // validate before any claim
	if err != nil {
		return Written{}, err
	}
	clean := evs[0].(category.CategoryDefined).Name
	st, err := peek(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events)
	if err != nil {
		return Written{}, err
	}
	// A keyed retry finds its category written: Handle answers it (replay, or the key's conflict) without a
	// new claim, which a refusal could then release from under the category.
	claimed := false
	if !st.Exists {
		if c.d.Categories.Len() >= MaxCategories {
			return Written{}, ErrTooManyCategories
		}
		if err := c.claimName(ctx, clean, guid, now); err != nil {
			return Written{}, err
		}
		claimed = true
	}
	res, err := command.Handle(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events, any(cmd),
		envelope(w, "define", categoryRequest{Name: name, Description: description}))
	if err != nil {
		if claimed {
			c.releaseUnlessDefined(ctx, guid, clean, now)
		}
		return Written{}, err
	}
	return Written{GUID: guid.String(), Position: res.Position}, c.wait(ctx, res.Position)
}

// Change renames a category and/or changes its description: a new name is claimed first and the old one
// released after. A deleted category cannot be changed.
func (c *Categories) Change(ctx context.Context, guid uuid.UUID, patch CategoryPatch, w Write) (Written, error) {
	st, err := c.state(ctx, guid)
	if err != nil {
		return Written{}, err
	}
	cmd := category.Change{Name: st.Name, Description: st.Description, At: c.now()}
	if patch.Name != nil {
		cmd.Name = *patch.Name
	}
	if patch.Description != nil {
		cmd.Description = *patch.Description
	}
	evs, err := category.Decide(st, cmd) // validate, and refuse a deleted category, before any claim
	if err != nil {
		return Written{}, err
	}
	if len(evs) == 0 {
		return Written{GUID: guid.String()}, nil // nothing changes
	}
	name := evs[0].(category.CategoryChanged).Name
	moved := category.NameStream(name) != category.NameStream(st.Name)
	if moved {
		if err := c.claimName(ctx, name, guid, cmd.At); err != nil {
			return Written{}, err
		}
	}
	res, err := command.Handle(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events, any(cmd), envelope(w, "change", patch))
	if err != nil {
		if moved {
			releaseClaim(ctx, c.d.Store, c.d.Logger, category.NameStream(name), guid.String(), cmd.At)
		}
		return Written{}, err
	}
	if moved && !res.Replayed {
		releaseClaim(ctx, c.d.Store, c.d.Logger, category.NameStream(st.Name), guid.String(), cmd.At)
	}
	return Written{GUID: guid.String(), Position: res.Position}, c.wait(ctx, res.Position)
}

// Delete soft-deletes a category and frees its name for a new category. Deleting a deleted category is a
// no-op.
func (c *Categories) Delete(ctx context.Context, guid uuid.UUID, w Write) (Written, error) {
	now := c.now()
	res, err := command.Handle(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events,
		any(category.Delete{At: now}), envelope(w, "delete", struct{}{}))
	if err != nil {
		return Written{}, err
	}
	if !res.Replayed {
		for _, e := range res.Events {
			if d, ok := e.(category.CategoryDeleted); ok {
				releaseClaim(ctx, c.d.Store, c.d.Logger, category.NameStream(d.Name), guid.String(), now)
			}
		}
	}
	return Written{GUID: guid.String(), Position: res.Position}, c.wait(ctx, res.Position)
}

// List returns every category, deleted ones included, ordered by name.
func (c *Categories) List(context.Context) []projections.Category { return c.d.Categories.List() }

// Category returns one category, deleted or not.
func (c *Categories) Category(_ context.Context, guid string) (projections.Category, bool) {
	return c.d.Categories.Get(guid)
}

// state loads a category from its stream (the authority, not a read model that may lag).
func (c *Categories) state(ctx context.Context, guid uuid.UUID) (category.State, error) {
	st, err := peek(ctx, c.d.Store, category.Stream(guid), category.Decider, category.Events)
	if err != nil {
		return st, err
	}
	if !st.Exists {
		return st, category.ErrNotFound
	}
	return st, nil
}

// claimName reserves name for the category guid. A name still held by a deleted category is taken over:
// a delete is final, so its claim only outlived it because the release after the delete failed.
func (c *Categories) claimName(ctx context.Context, name string, guid uuid.UUID, at time.Time) error {
	stream := category.NameStream(name)
	_, err := command.Handle(ctx, c.d.Store, stream, uniqueness.Decider, uniqueness.Events,
		any(uniqueness.Claim{Owner: guid.String(), Value: name, At: at}), command.Envelope{})
	var taken *uniqueness.Taken
	if !errors.As(err, &taken) {
		if err != nil {
			return fmt.Errorf("app: claim %q: %w", name, err)
		}
		return nil
	}
	holder, perr := uuid.Parse(taken.Owner)
	if perr != nil {
		return category.ErrNameTaken
	}
	st, err := peek(ctx, c.d.Store, category.Stream(holder), category.Decider, category.Events)
	if err != nil {
		return err
	}
	if !st.Deleted {
		return category.ErrNameTaken
	}
	releaseClaim(ctx, c.d.Store, c.d.Logger, stream, taken.Owner, at)
	return claimUnique(ctx, c.d.Store, stream, guid.String(), name, at, category.ErrNameTaken)
}

// releaseUnlessDefined frees the claim of a Define that failed, unless the category exists after all (a
// racing retry of the same keyed request wrote it): that category holds the name now.
func (c *Categories) releaseUnlessDefined(ctx context.Context, guid uuid.UUID, name string, at time.Time) {
	st, err := peek(context.WithoutCancel(ctx), c.d.Store, category.Stream(guid), category.Decider, category.Events)
	if err == nil && st.Exists {
		return
	}
	releaseClaim(ctx, c.d.Store, c.d.Logger, category.NameStream(name), guid.String(), at)
}

func (c *Categories) wait(ctx context.Context, pos eventstore.Position) error {
	if c.d.WaitFor == nil || pos == (eventstore.Position{}) {
		return nil
	}
	return c.d.WaitFor(ctx, pos)
}
