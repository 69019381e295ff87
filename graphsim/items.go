package graphsim

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// AddMessage puts a message in a mail folder (an id or a well-known name such as "inbox" or
// "sentitems"; inbox if empty). Missing ids, timestamps and derived properties are filled in
// the way Exchange fills them. It returns the message id.
func (s *Sim) AddMessage(tenantID, userID, folder string, m Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return "", err
	}
	if folder == "" {
		folder = "inbox"
	}
	fid, ok := mb.folderID(folder)
	if !ok {
		return "", fmt.Errorf("folder %s: %w", folder, ErrNotFound)
	}
	now := s.nowLocked()
	if m.ID == "" {
		m.ID = "AAMkAD" + randomID(40) + "AAA="
	}
	if m.ReceivedDateTime.IsZero() {
		m.ReceivedDateTime = now
	}
	if m.SentDateTime.IsZero() {
		m.SentDateTime = m.ReceivedDateTime.Add(-2 * time.Second)
	}
	m.CreatedDateTime, m.LastModifiedDateTime = now, now
	m.ChangeKey = randomID(20)
	m.ParentFolderID = fid
	if m.InternetMessageID == "" {
		m.InternetMessageID = "<" + randomID(16) + "@" + t.domains[0] + ">"
	}
	if m.ConversationID == "" {
		m.ConversationID = "AAQkAD" + randomID(32) + "="
	}
	if m.Importance == "" {
		m.Importance = "normal"
	}
	if m.Body.ContentType == "" {
		m.Body.ContentType = "text"
	}
	if m.BodyPreview == "" {
		m.BodyPreview = preview(m.Body.Content)
	}
	if m.Sender == nil && m.From != nil {
		f := *m.From
		m.Sender = &f
	}
	m.WebLink = "https://outlook.office365.com/owa/?ItemID=" + m.ID + "&exvsurl=1&viewmodel=ReadMessageItem"
	for _, l := range []*[]Recipient{&m.ToRecipients, &m.CcRecipients, &m.BccRecipients, &m.ReplyTo} {
		if *l == nil {
			*l = []Recipient{}
		}
	}
	if m.Categories == nil {
		m.Categories = []string{}
	}
	if m.InferenceClassification == "" {
		m.InferenceClassification = "focused"
	}
	if m.Flag.FlagStatus == "" {
		m.Flag.FlagStatus = "notFlagged"
	}
	mb.messages[fid].put(m.ID, &m)
	mb.messageFolder[m.ID] = fid
	s.notifyLocked(t, "messages", userID, m.ID, "created")
	return m.ID, nil
}

// preview is a body's first 255 characters, as bodyPreview is documented.
func preview(s string) string {
	if utf8.RuneCountInString(s) <= 255 {
		return s
	}
	return string([]rune(s)[:255])
}

// UpdateMessage changes a message through fn; it gets a new changeKey.
func (s *Sim) UpdateMessage(tenantID, userID, messageID string, fn func(m *Message)) error {
	return s.updateFiled(tenantID, userID, "messages", messageID, mailFiles, func(v any, fid string, now time.Time) any {
		c := *v.(*Message)
		fn(&c)
		c.ID, c.ParentFolderID, c.LastModifiedDateTime, c.ChangeKey = messageID, fid, now, randomID(20)
		return &c
	})
}

// DeleteMessage removes a message (hard delete): the folder's delta reports it @removed.
func (s *Sim) DeleteMessage(tenantID, userID, messageID string) error {
	return s.deleteFiled(tenantID, userID, "messages", messageID, mailFiles)
}

// Messages returns the ground truth: the live messages of a folder, oldest change first.
func (s *Sim) Messages(tenantID, userID, folder string) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return nil, err
	}
	fid, ok := mb.folderID(folder)
	if !ok {
		return nil, fmt.Errorf("folder %s: %w", folder, ErrNotFound)
	}
	var out []Message
	for _, e := range mb.messages[fid].live() {
		out = append(out, *e.value.(*Message))
	}
	return out, nil
}

// AddContact puts a contact in the user's default contacts folder and returns its id.
func (s *Sim) AddContact(tenantID, userID string, c Contact) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return "", err
	}
	now := s.nowLocked()
	if c.ID == "" {
		c.ID = "AAMkADh" + randomID(40) + "AAA="
	}
	c.CreatedDateTime, c.LastModifiedDateTime, c.ChangeKey = now, now, randomID(20)
	c.ParentFolderID = mb.defaultContact
	if c.EmailAddresses == nil {
		c.EmailAddresses = []EmailAddress{}
	}
	if c.BusinessPhones == nil {
		c.BusinessPhones = []string{}
	}
	if c.Categories == nil {
		c.Categories = []string{}
	}
	if c.HomePhones == nil {
		c.HomePhones = []string{}
	}
	if c.ImAddresses == nil {
		c.ImAddresses = []string{}
	}
	if c.FileAs == "" {
		c.FileAs = c.DisplayName
	}
	mb.contacts[mb.defaultContact].put(c.ID, &c)
	mb.contactFolder[c.ID] = mb.defaultContact
	s.notifyLocked(t, "contacts", userID, c.ID, "created")
	return c.ID, nil
}

// UpdateContact changes a contact through fn.
func (s *Sim) UpdateContact(tenantID, userID, contactID string, fn func(c *Contact)) error {
	return s.updateFiled(tenantID, userID, "contacts", contactID, contactFiles, func(v any, fid string, now time.Time) any {
		c := *v.(*Contact)
		fn(&c)
		c.ID, c.ParentFolderID, c.LastModifiedDateTime, c.ChangeKey = contactID, fid, now, randomID(20)
		return &c
	})
}

// DeleteContact removes a contact.
func (s *Sim) DeleteContact(tenantID, userID, contactID string) error {
	return s.deleteFiled(tenantID, userID, "contacts", contactID, contactFiles)
}

// ResetDelta invalidates every delta token of one of a user's resources ("messages",
// "events" or "contacts"), or of the tenant's users with an empty userID: the next request
// with an old token must start over (concepts/delta-query-overview.md, "Synchronization
// reset" and "Token duration").
func (s *Sim) ResetDelta(tenantID, userID, resource string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantID]
	if !ok {
		return fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	if userID == "" {
		t.users.gen++
		return nil
	}
	mb, ok := t.mailboxes[userID]
	if !ok {
		return fmt.Errorf("mailbox of %s: %w", userID, ErrNotFound)
	}
	switch resource {
	case "messages":
		for _, c := range mb.messages {
			c.gen++
		}
	case "events":
		mb.events.gen++
	case "contacts":
		for _, c := range mb.contacts {
			c.gen++
		}
	default:
		return fmt.Errorf("resource %q: %w", resource, ErrNotFound)
	}
	return nil
}

// Messages and contacts are filed: kept in one collection per folder, with an index from item
// to folder. These pick a mailbox's files of one kind.
func mailFiles(mb *mailbox) (map[string]*collection, map[string]string) {
	return mb.messages, mb.messageFolder
}

func contactFiles(mb *mailbox) (map[string]*collection, map[string]string) {
	return mb.contacts, mb.contactFolder
}

// updateFiled replaces a filed item with what change makes of it, and notifies subscribers.
func (s *Sim) updateFiled(tenantID, userID, kind, id string, files func(*mailbox) (map[string]*collection, map[string]string),
	change func(v any, folderID string, now time.Time) any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return err
	}
	colls, folderOf := files(mb)
	fid, ok := folderOf[id]
	if !ok {
		return fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	}
	v, _ := colls[fid].get(id)
	colls[fid].put(id, change(v, fid, s.nowLocked()))
	s.notifyLocked(t, kind, userID, id, "updated")
	return nil
}

// deleteFiled removes a filed item (a hard delete): its folder's delta reports it @removed.
func (s *Sim) deleteFiled(tenantID, userID, kind, id string, files func(*mailbox) (map[string]*collection, map[string]string)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, mb, err := s.mailboxLocked(tenantID, userID)
	if err != nil {
		return err
	}
	colls, folderOf := files(mb)
	fid, ok := folderOf[id]
	if !ok {
		return fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	}
	colls[fid].remove(id, "deleted")
	delete(folderOf, id)
	s.notifyLocked(t, kind, userID, id, "deleted")
	return nil
}

// MoveMessage moves a message to another folder. Like Exchange (without immutable ids), the
// moved message has a new id: the source folder's delta reports the old one @removed, the
// destination's the new one (api-reference/v1.0/api/message-move.md). It returns the new id.
func (s *Sim) MoveMessage(tenantID, userID, messageID, folder string) (string, error) {
	s.mu.Lock()
	_, mb, err := s.mailboxLocked(tenantID, userID)
	var m Message
	if err == nil {
		fid, ok := mb.messageFolder[messageID]
		if !ok {
			err = fmt.Errorf("message %s: %w", messageID, ErrNotFound)
		} else {
			v, _ := mb.messages[fid].get(messageID)
			m = *v.(*Message)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	if err := s.DeleteMessage(tenantID, userID, messageID); err != nil {
		return "", err
	}
	m.ID = ""
	return s.AddMessage(tenantID, userID, folder, m)
}
