package graphsim

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// A snapshot is the simulator's world written out: its tenants (users, mailboxes with their
// folders and items, consents, application access policies), its subscriptions and its clock.
// Every item keeps its id and sequence number and every collection its generation, so delta
// and skip tokens issued before a Save still work after a Load into a new simulator: a demo
// restarted on its data directory goes on where it was. Delivery state (pending notifications,
// endpoint health), faults, throttling windows and the request log are not kept.

// snapshotVersion changes when the format does; Load refuses another.
const snapshotVersion = 1

type snapshot struct {
	Version       int             `json:"version"`
	Offset        time.Duration   `json:"offset"`
	Tenants       []tenantSnap    `json:"tenants"`
	Subscriptions []subscriptSnap `json:"subscriptions"`
}

type tenantSnap struct {
	ID        string                 `json:"id"`
	Name      string                 `json:"name"`
	Domains   []string               `json:"domains"`
	Users     collSnap               `json:"users"`
	Mailboxes map[string]mailboxSnap `json:"mailboxes"`
	Consents  map[string]consentSnap `json:"consents"`
	Policies  []policySnap           `json:"policies"`
}

type collSnap struct {
	Seq   uint64      `json:"seq"`
	Gen   uint64      `json:"gen"`
	Items []entrySnap `json:"items"`
}

// entrySnap holds one of the value kinds.
type entrySnap struct {
	ID      string   `json:"id"`
	Seq     uint64   `json:"seq"`
	Removed string   `json:"removed,omitempty"`
	User    *User    `json:"user,omitempty"`
	Purpose string   `json:"purpose,omitempty"` // a user's, which its JSON leaves out
	Message *Message `json:"message,omitempty"`
	Event   *Event   `json:"event,omitempty"`
	Contact *Contact `json:"contact,omitempty"`
}

type mailboxSnap struct {
	Folders        map[string]MailFolder    `json:"folders"`
	WellKnown      map[string]string        `json:"wellKnown"`
	Messages       map[string]collSnap      `json:"messages"`
	MessageFolder  map[string]string        `json:"messageFolder"`
	Events         collSnap                 `json:"events"`
	ContactFolders map[string]ContactFolder `json:"contactFolders"`
	Contacts       map[string]collSnap      `json:"contacts"`
	ContactFolder  map[string]string        `json:"contactFolder"`
	DefaultContact string                   `json:"defaultContact"`
}

type consentSnap struct {
	Roles []string  `json:"roles"`
	At    time.Time `json:"at"`
}

type policySnap struct {
	AppID       string          `json:"appId"`
	Allowed     map[string]bool `json:"allowed"`
	EffectiveAt time.Time       `json:"effectiveAt"`
}

type subscriptSnap struct {
	Subscription
	ClientStateValue *string `json:"clientStateValue"` // Subscription's own field is never listed
	TenantID         string  `json:"tenantId"`
	UserID           string  `json:"userId"`
	Kind             string  `json:"kind"`
	Folder           string  `json:"folder"`
}

// Save writes a snapshot of the simulator to w.
func (s *Sim) Save(w io.Writer) error {
	s.mu.Lock()
	snap := snapshot{Version: snapshotVersion, Offset: s.offset}
	for _, t := range s.tenants {
		ts := tenantSnap{ID: t.id, Name: t.name, Domains: t.domains, Users: saveColl(t.users),
			Mailboxes: map[string]mailboxSnap{}, Consents: map[string]consentSnap{}}
		for id, m := range t.mailboxes {
			ms := mailboxSnap{Folders: map[string]MailFolder{}, WellKnown: m.wellKnown, Messages: map[string]collSnap{},
				MessageFolder: m.messageFolder, Events: saveColl(m.events), ContactFolders: map[string]ContactFolder{},
				Contacts: map[string]collSnap{}, ContactFolder: m.contactFolder, DefaultContact: m.defaultContact}
			for fid, f := range m.folders {
				ms.Folders[fid] = *f
			}
			for fid, c := range m.messages {
				ms.Messages[fid] = saveColl(c)
			}
			for fid, f := range m.contactFolders {
				ms.ContactFolders[fid] = *f
			}
			for fid, c := range m.contacts {
				ms.Contacts[fid] = saveColl(c)
			}
			ts.Mailboxes[id] = ms
		}
		for app, c := range t.consents {
			ts.Consents[app] = consentSnap{Roles: c.roles, At: c.at}
		}
		for _, p := range t.policies {
			ts.Policies = append(ts.Policies, policySnap{AppID: p.appID, Allowed: p.allowed, EffectiveAt: p.effectiveAt})
		}
		snap.Tenants = append(snap.Tenants, ts)
	}
	for _, sub := range s.subs {
		snap.Subscriptions = append(snap.Subscriptions, subscriptSnap{Subscription: sub.Subscription, ClientStateValue: sub.ClientState,
			TenantID: sub.tenantID, UserID: sub.userID, Kind: sub.kind, Folder: sub.folder})
	}
	// Encoded under the lock: items are replaced, never changed, but the maps are not.
	err := json.NewEncoder(w).Encode(snap)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("graphsim: save: %w", err)
	}
	return nil
}

func saveColl(c *collection) collSnap {
	out := collSnap{Seq: c.seq, Gen: c.gen, Items: make([]entrySnap, 0, len(c.items))}
	for _, e := range c.items {
		es := entrySnap{ID: e.id, Seq: e.seq, Removed: e.removed}
		switch v := e.value.(type) {
		case *User:
			es.User, es.Purpose = v, v.Purpose
		case *Message:
			es.Message = v
		case *Event:
			es.Event = v
		case *Contact:
			es.Contact = v
		}
		out.Items = append(out.Items, es)
	}
	return out
}

// Load replaces the simulator's tenants, subscriptions and clock with a snapshot Save wrote.
func (s *Sim) Load(r io.Reader) error {
	var snap snapshot
	if err := json.NewDecoder(r).Decode(&snap); err != nil {
		return fmt.Errorf("graphsim: load: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("graphsim: load: snapshot version %d, this graphsim reads %d", snap.Version, snapshotVersion)
	}
	tenants, domains := map[string]*tenant{}, map[string]*tenant{}
	for _, ts := range snap.Tenants {
		t := &tenant{id: ts.ID, name: ts.Name, domains: ts.Domains, users: loadColl(ts.Users),
			mailboxes: map[string]*mailbox{}, consents: map[string]*consent{}}
		for id, ms := range ts.Mailboxes {
			m := &mailbox{folders: map[string]*MailFolder{}, wellKnown: ms.WellKnown, messages: map[string]*collection{},
				messageFolder: ms.MessageFolder, events: loadColl(ms.Events), contactFolders: map[string]*ContactFolder{},
				contacts: map[string]*collection{}, contactFolder: ms.ContactFolder, defaultContact: ms.DefaultContact}
			for fid, f := range ms.Folders {
				m.folders[fid] = &f
			}
			for name, fid := range ms.WellKnown {
				if f := m.folders[fid]; f != nil {
					f.wellKnown = name
				}
			}
			for fid, c := range ms.Messages {
				m.messages[fid] = loadColl(c)
			}
			for fid, f := range ms.ContactFolders {
				m.contactFolders[fid] = &f
			}
			for fid, c := range ms.Contacts {
				m.contacts[fid] = loadColl(c)
			}
			if m.messageFolder == nil {
				m.messageFolder = map[string]string{}
			}
			if m.contactFolder == nil {
				m.contactFolder = map[string]string{}
			}
			t.mailboxes[id] = m
		}
		for _, e := range t.users.items { // HasMailbox is not a Graph property: it is the mailbox's presence
			if u, ok := e.value.(*User); ok {
				u.HasMailbox = t.mailboxes[u.ID] != nil
			}
		}
		for app, c := range ts.Consents {
			t.consents[app] = &consent{roles: c.Roles, at: c.At}
		}
		for _, p := range ts.Policies {
			t.policies = append(t.policies, policy{appID: p.AppID, allowed: p.Allowed, effectiveAt: p.EffectiveAt})
		}
		tenants[t.id] = t
		for _, d := range t.domains {
			domains[strings.ToLower(d)] = t
		}
	}
	subs := map[string]*subscription{}
	for _, ss := range snap.Subscriptions {
		sub := &subscription{Subscription: ss.Subscription, tenantID: ss.TenantID, userID: ss.UserID, kind: ss.Kind, folder: ss.Folder}
		sub.ClientState = ss.ClientStateValue
		subs[sub.ID] = sub
	}
	s.mu.Lock()
	s.tenants, s.domains, s.subs, s.offset = tenants, domains, subs, snap.Offset
	s.mu.Unlock()
	return nil
}

func loadColl(cs collSnap) *collection {
	c := &collection{seq: cs.Seq, gen: cs.Gen, items: make(map[string]*entry, len(cs.Items))}
	for _, es := range cs.Items {
		e := &entry{id: es.ID, seq: es.Seq, removed: es.Removed}
		switch {
		case es.User != nil:
			es.User.Purpose = es.Purpose
			e.value = es.User
		case es.Message != nil:
			e.value = es.Message
		case es.Event != nil:
			e.value = es.Event
		case es.Contact != nil:
			e.value = es.Contact
		}
		c.items[e.id] = e
	}
	return c
}
