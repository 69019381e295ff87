// Package graphdata holds Microsoft Graph's data as teamaccess reads it: the value types of
// messages, events, contacts, directory users, delta pages, grants and subscriptions, and the
// kinds of failure a Graph or identity-platform call can end in. It imports no SDK: package
// m365 fills these types from Microsoft's answers, and the domain packages (deltasync,
// mailboxes, access, subscriptions) declare their interfaces in them, so that *m365.Client
// serves them as it is, with no adapter in between.
package graphdata
