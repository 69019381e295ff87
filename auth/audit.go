package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/teamaccess/teamaccess/errkind"
	"github.com/teamaccess/teamaccess/store"
)

// AuditEntry is one administrative action.
type AuditEntry struct {
	ID         string
	At         time.Time
	Action     string
	ActorKeyID string
	ActorName  string
	TargetID   string
	Summary    string
}

// AuditPage is a page of the audit log, newest first.
type AuditPage struct {
	Entries []AuditEntry
	// Cursors[i] resumes after Entries[i].
	Cursors []string
	HasNext bool
}

// Page sizes of the audit log.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// audit records an action.
func (d *Directory) audit(ctx context.Context, actor Actor, action, target, summary string) error {
	err := d.st.Org(actor.OrgID).AppendAudit(ctx, store.AuditEntry{
		At: d.now().UTC().Truncate(time.Millisecond), ActorKeyID: actor.KeyID, ActorName: actor.Name,
		Action: action, TargetID: target, Summary: summary,
	})
	if err != nil {
		return fmt.Errorf("record %s in the audit log: %w", action, err)
	}
	return nil
}

// Record adds an administrative action of another package (consent links, disconnects,
// capture changes) to the audit log.
func (d *Directory) Record(ctx context.Context, actor Actor, action, target, summary string) error {
	return d.audit(ctx, actor, action, target, summary)
}

// AuditLog returns up to first entries of the organisation's log after the cursor.
func (d *Directory) AuditLog(ctx context.Context, orgID string, first int, after string) (AuditPage, error) {
	if first < 0 || first > MaxPageSize {
		return AuditPage{}, errkind.E(errkind.ErrInvalid, "first must be between 0 and %d", MaxPageSize)
	}
	before := ""
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		if err != nil || len(b) == 0 {
			return AuditPage{}, errkind.E(errkind.ErrInvalid, "after is not a cursor of this connection")
		}
		before = string(b)
	}
	entries, err := d.st.Org(orgID).AuditLog(ctx, first+1, before)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{HasNext: len(entries) > first}
	if page.HasNext {
		entries = entries[:first]
	}
	for _, e := range entries {
		page.Entries = append(page.Entries, toAuditEntry(e))
		page.Cursors = append(page.Cursors, base64.RawURLEncoding.EncodeToString([]byte(e.ID)))
	}
	return page, nil
}

// AuditEntry reads one entry of the organisation's log.
func (d *Directory) AuditEntry(ctx context.Context, orgID, id string) (AuditEntry, error) {
	e, err := d.st.Org(orgID).AuditEntry(ctx, id)
	if err != nil {
		return AuditEntry{}, fromStore(err)
	}
	return toAuditEntry(e), nil
}

// PruneAudit deletes entries older than the retention period, in every organisation.
func (d *Directory) PruneAudit(ctx context.Context, retention time.Duration) (int64, error) {
	return d.st.DeleteAuditBefore(ctx, d.now().Add(-retention))
}

func toAuditEntry(e store.AuditEntry) AuditEntry {
	return AuditEntry{ID: e.ID, At: e.At, Action: e.Action, ActorKeyID: e.ActorKeyID, ActorName: e.ActorName, TargetID: e.TargetID, Summary: e.Summary}
}
