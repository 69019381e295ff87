package graphsim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// listMailFolders is GET /users/{id}/mailFolders (api-reference/v1.0/api/user-list-mailfolders.md).
func (s *Sim) listMailFolders(w http.ResponseWriter, r *http.Request, c caller, mb *mailbox) {
	if !s.requireRole(w, r, c, false, mailRoles...) {
		return
	}
	sel := selectFields(r)
	s.mu.Lock()
	var value []map[string]any
	for _, wk := range wellKnownFolders {
		f := *mb.folders[mb.wellKnown[wk.name]]
		f.TotalItemCount = len(mb.messages[f.ID].live())
		value = append(value, shape(&f, sel, ""))
	}
	s.mu.Unlock()
	s.writeCollection(w, "Collection(mailFolder)", value, "", "", 0)
}

// getMailFolder is GET /users/{id}/mailFolders/{id | well-known name}
// (api-reference/v1.0/api/mailfolder-get.md). teamaccess uses it as the cheapest probe of
// whether a mailbox can be read.
func (s *Sim) getMailFolder(w http.ResponseWriter, r *http.Request, c caller, mb *mailbox, id string) {
	if !s.requireRole(w, r, c, false, mailRoles...) {
		return
	}
	s.mu.Lock()
	fid, ok := mb.folderID(id)
	var f MailFolder
	if ok {
		f = *mb.folders[fid]
		f.TotalItemCount = len(mb.messages[fid].live())
	}
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	writeJSONBody(w, http.StatusOK, shape(&f, selectFields(r), ""))
}

// messagesDelta is GET /users/{id}/mailFolders/{id}/messages/delta
// (api-reference/v1.0/api/message-delta.md; concepts/delta-query-messages.md): 10 messages a
// page unless Prefer: odata.maxpagesize says otherwise, $select carried in the tokens, and
// $filter=receivedDateTime ge {date} supported.
func (s *Sim) messagesDelta(w http.ResponseWriter, r *http.Request, c caller, u *User, mb *mailbox, folder string) {
	if !s.requireRole(w, r, c, false, mailRoles...) {
		return
	}
	s.mu.Lock()
	fid, ok := mb.folderID(folder)
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	expand := r.URL.Query().Get("$expand")
	if expand != "" && s.opts.DeltaExpandFails {
		s.graphError(w, r, http.StatusInternalServerError, "InternalServerError", "Value cannot be null.\r\nParameter name: type")
		return
	}
	s.serveDelta(w, r, deltaRequest{
		coll: mb.messages[fid], key: "messages:" + c.tenant.id + ":" + u.ID + ":" + fid,
		extended: messageExtended,
		path:     "users/" + u.ID + "/mailFolders/" + fid + "/messages/delta", context: "Collection(message)",
		defPage: 10, maxPage: 1000, removedKind: "#microsoft.graph.message",
		received: func(v any) time.Time { return v.(*Message).ReceivedDateTime },
		cap:      s.filteredDeltaCap(),
		fresh: func(st *deltaState) bool {
			switch ob := r.URL.Query().Get("$orderby"); ob {
			case "":
			case "receivedDateTime desc": // "The only supported $orderby expression" (concepts/delta-query-messages.md)
				st.Desc = true
			default:
				return false
			}
			f, err := parseReceivedFilter(r.URL.Query().Get("$filter"))
			if err != nil {
				return false
			}
			if f != "" {
				if _, err := time.Parse(time.RFC3339, f); err != nil {
					return false
				}
			}
			st.Filter = f
			if expand != "" {
				id, ok := parseExtendedExpand(expand)
				if !ok {
					return false
				}
				st.Expand = id
			}
			return true
		},
		keep: func(st deltaState) func(any) bool {
			if st.Filter == "" {
				return nil
			}
			from, _ := time.Parse(time.RFC3339, st.Filter)
			return func(v any) bool { return !v.(*Message).ReceivedDateTime.Before(from) }
		},
	})
}

func (s *Sim) filteredDeltaCap() int {
	if s.opts.FilteredDeltaCap == 0 {
		return 5000
	}
	return s.opts.FilteredDeltaCap
}

// listMessages is GET /users/{id}/messages or …/mailFolders/{id}/messages
// (api-reference/v1.0/api/user-list-messages.md), newest first, 10 a page by default.
func (s *Sim) listMessages(w http.ResponseWriter, r *http.Request, c caller, u *User, mb *mailbox, folder string) {
	if !s.requireRole(w, r, c, false, mailRoles...) {
		return
	}
	size, _ := pageSize(r, 10, 1000)
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skip"))
	sel := selectFields(r)
	s.mu.Lock()
	var all []*Message
	for fid, coll := range mb.messages {
		if folder != "" {
			if want, ok := mb.folderID(folder); !ok || want != fid {
				continue
			}
		}
		for _, e := range coll.live() {
			all = append(all, e.value.(*Message))
		}
	}
	s.mu.Unlock()
	sortNewestFirst(all)
	var value []map[string]any
	for i := skip; i < len(all) && i < skip+size; i++ {
		value = append(value, shape(all[i], sel, all[i].ChangeKey))
	}
	next := ""
	if skip+size < len(all) {
		path := "users/" + u.ID + "/messages"
		if folder != "" {
			path = "users/" + u.ID + "/mailFolders/" + folder + "/messages"
		}
		next = s.link(path, "$skip", strconv.Itoa(skip+size)) + "&$top=" + strconv.Itoa(size)
	}
	s.writeCollection(w, "users('"+u.ID+"')/messages", value, next, "", 0)
}

func sortNewestFirst(ms []*Message) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].ReceivedDateTime.After(ms[j-1].ReceivedDateTime); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// getMessage is GET /users/{id}/messages/{id} (api-reference/v1.0/api/message-get.md).
func (s *Sim) getMessage(w http.ResponseWriter, r *http.Request, c caller, mb *mailbox, id string) {
	if !s.requireRole(w, r, c, false, mailRoles...) {
		return
	}
	s.mu.Lock()
	var v any
	fid, ok := mb.messageFolder[id]
	if ok {
		v, ok = mb.messages[fid].get(id)
	}
	s.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	m := shape(v, selectFields(r), etagOf(v))
	m["@odata.context"] = s.graph.url + "/v1.0/$metadata#Collection(message)/$entity"
	writeJSONBody(w, http.StatusOK, m)
}

// parseExtendedExpand reads $expand=singleValueExtendedProperties($filter=id eq 'Integer
// 0x0036') (api-reference/v1.0/api/singlevaluelegacyextendedproperty-get.md) and answers the
// property's id as Graph writes it back: its type and its tag in lower-case hex without leading
// zeros ("Integer 0x36").
func parseExtendedExpand(expand string) (string, bool) {
	rest, ok := strings.CutPrefix(expand, "singleValueExtendedProperties($filter=id eq '")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, "')")
	if !ok {
		return "", false
	}
	typ, tag, ok := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(strings.ToLower(tag), "0x") {
		return "", false
	}
	n, err := strconv.ParseUint(tag[2:], 16, 16)
	if err != nil {
		return "", false
	}
	return typ + " 0x" + strconv.FormatUint(n, 16), true
}

// messageExtended answers a message's PidTagSensitivity ("Integer 0x36"), the one extended
// property graphsim keeps.
func messageExtended(v any, id string) (string, bool) {
	if id != "Integer 0x36" {
		return "", false
	}
	switch v.(*Message).Sensitivity {
	case "personal":
		return "1", true
	case "private":
		return "2", true
	case "confidential":
		return "3", true
	}
	return "0", true
}
