package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Notification is one item of a change-notification or lifecycle-event collection
// (api-reference/v1.0/resources/changenotification.md, changenotificationcollection.md).
type Notification struct {
	SubscriptionID string
	ClientState    *string
	// ChangeType is created, updated or deleted; empty for a lifecycle event.
	ChangeType string
	// LifecycleEvent is reauthorizationRequired, subscriptionRemoved or missed
	// (concepts/change-notifications-lifecycle-events.md); empty for a change.
	LifecycleEvent string
	// UnknownEvent marks a lifecycle event of a kind this version does not know (Graph may add
	// kinds): acknowledged, counted and logged, never acted on. A 4xx would have Graph retry
	// the whole batch and then drop it, good notifications included.
	UnknownEvent bool
	Resource     string
	ItemID       string // resourceData.id
	ETag         string // resourceData.@odata.etag
	TenantID     string
	ExpiresAt    time.Time // subscriptionExpirationDateTime
}

// ErrMalformed reports a body that is not a notification collection: answered 400, nothing kept.
var ErrMalformed = errors.New("malformed notification body")

// Limits of what a notification may hold. Graph's own are far below them.
const (
	MaxBody          = 4 << 20
	maxItems         = 1000
	maxIDLength      = 256
	maxClientState   = 128 // Graph refuses longer ones at creation (subscription.md)
	maxResource      = 2048
	maxTenantID      = 128
	maxETag          = 256
	maxValidationTok = 1000
)

var (
	changeTypes     = map[string]bool{"created": true, "updated": true, "deleted": true}
	lifecycleEvents = map[string]bool{"reauthorizationRequired": true, "subscriptionRemoved": true, "missed": true}
)

// wireItem is an item as sent. Pointers tell a missing field from an empty one. Fields Graph may
// add later are ignored (a 400 for them would have Graph retry, then drop, good notifications);
// a known field of the wrong type fails the whole body.
type wireItem struct {
	SubscriptionID                 *string `json:"subscriptionId"`
	SubscriptionExpirationDateTime *string `json:"subscriptionExpirationDateTime"`
	ClientState                    *string `json:"clientState"`
	ChangeType                     *string `json:"changeType"`
	LifecycleEvent                 *string `json:"lifecycleEvent"`
	Resource                       *string `json:"resource"`
	TenantID                       *string `json:"tenantId"`
	// OrganizationID is tenantId as some lifecycle notifications spell it
	// (microsoft-graph-docs-contrib issue 84, where resource came empty too).
	OrganizationID   *string         `json:"organizationId"`
	ResourceData     json.RawMessage `json:"resourceData"`
	EncryptedContent json.RawMessage `json:"encryptedContent"`
}

type wireResourceData struct {
	ID   *string `json:"id"`
	ETag *string `json:"@odata.etag"`
}

// Parse reads a notification collection strictly: one JSON object, nothing after it, valid
// UTF-8, a non-empty "value" array of at most 1,000 items, each with a subscription id and
// exactly one of a known changeType or lifecycleEvent, every known field of its documented type
// and within bounds. Any violation fails the whole body with ErrMalformed.
func Parse(body []byte) ([]Notification, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var top struct {
		Value            *[]json.RawMessage `json:"value"`
		ValidationTokens *[]string          `json:"validationTokens"`
	}
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	switch {
	case top.Value == nil:
		return nil, fmt.Errorf("%w: no \"value\" array", ErrMalformed)
	case len(*top.Value) == 0:
		return nil, fmt.Errorf("%w: \"value\" is empty", ErrMalformed)
	case len(*top.Value) > maxItems:
		return nil, fmt.Errorf("%w: more than %d notifications", ErrMalformed, maxItems)
	case top.ValidationTokens != nil && len(*top.ValidationTokens) > maxValidationTok:
		return nil, fmt.Errorf("%w: too many validation tokens", ErrMalformed)
	}
	out := make([]Notification, 0, len(*top.Value))
	for i, raw := range *top.Value {
		n, err := parseItem(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: notification %d: %v", ErrMalformed, i, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseItem(raw json.RawMessage) (Notification, error) {
	var w wireItem
	if len(raw) == 0 || raw[0] != '{' {
		return Notification{}, errors.New("not an object")
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return Notification{}, err
	}
	var n Notification
	bounded := func(name string, p *string, max int, required bool) (string, error) {
		switch {
		case p == nil && required:
			return "", fmt.Errorf("%s is missing", name)
		case p == nil:
			return "", nil
		case len(*p) > max:
			return "", fmt.Errorf("%s is longer than %d bytes", name, max)
		case required && *p == "":
			return "", fmt.Errorf("%s is empty", name)
		}
		return *p, nil
	}
	var err error
	if n.SubscriptionID, err = bounded("subscriptionId", w.SubscriptionID, maxIDLength, true); err != nil {
		return n, err
	}
	if n.Resource, err = bounded("resource", w.Resource, maxResource, false); err != nil {
		return n, err
	}
	if n.TenantID, err = bounded("tenantId", w.TenantID, maxTenantID, false); err != nil {
		return n, err
	}
	if n.TenantID == "" {
		if n.TenantID, err = bounded("organizationId", w.OrganizationID, maxTenantID, false); err != nil {
			return n, err
		}
	}
	if _, err = bounded("clientState", w.ClientState, maxClientState, false); err != nil {
		return n, err
	}
	n.ClientState = w.ClientState
	switch {
	case w.ChangeType != nil && w.LifecycleEvent != nil:
		return n, errors.New("both changeType and lifecycleEvent")
	case w.ChangeType != nil:
		if !changeTypes[*w.ChangeType] {
			return n, fmt.Errorf("unknown changeType %q", truncate(*w.ChangeType))
		}
		n.ChangeType = *w.ChangeType
	case w.LifecycleEvent != nil:
		if *w.LifecycleEvent == "" {
			return n, errors.New("lifecycleEvent is empty")
		}
		n.LifecycleEvent = truncate(*w.LifecycleEvent)
		n.UnknownEvent = !lifecycleEvents[*w.LifecycleEvent]
	default:
		return n, errors.New("neither changeType nor lifecycleEvent")
	}
	if w.SubscriptionExpirationDateTime != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.SubscriptionExpirationDateTime)
		if err != nil {
			return n, errors.New("subscriptionExpirationDateTime is not an RFC 3339 time")
		}
		n.ExpiresAt = t.UTC()
	}
	if len(w.ResourceData) > 0 && string(w.ResourceData) != "null" {
		if w.ResourceData[0] != '{' {
			return n, errors.New("resourceData is not an object")
		}
		var rd wireResourceData
		if err := json.Unmarshal(w.ResourceData, &rd); err != nil {
			return n, fmt.Errorf("resourceData: %v", err)
		}
		if n.ItemID, err = bounded("resourceData.id", rd.ID, maxIDLength*2, false); err != nil {
			return n, err
		}
		if n.ETag, err = bounded("resourceData.@odata.etag", rd.ETag, maxETag, false); err != nil {
			return n, err
		}
	}
	return n, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
