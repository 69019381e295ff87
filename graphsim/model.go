package graphsim

import (
	"time"
)

// The resource shapes below follow the Microsoft Graph v1.0 resource pages
// (api-reference/v1.0/resources/user.md, message.md, event.md, contact.md, mailfolder.md,
// contactfolder.md): property names, nesting and JSON types as documented. Only the properties
// teamaccess reads, and those the documentation's examples show, are modelled.

// EmailAddress is emailAddress (api-reference/v1.0/resources/emailaddress.md).
type EmailAddress struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Recipient is recipient (api-reference/v1.0/resources/recipient.md).
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// ItemBody is itemBody (api-reference/v1.0/resources/itembody.md).
type ItemBody struct {
	ContentType string `json:"contentType"` // "text" or "html"
	Content     string `json:"content"`
}

// User is user (api-reference/v1.0/resources/user.md).
type User struct {
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName,omitempty"`
	Surname           string   `json:"surname,omitempty"`
	UserPrincipalName string   `json:"userPrincipalName"`
	Mail              *string  `json:"mail"`
	JobTitle          *string  `json:"jobTitle"`
	Department        *string  `json:"department,omitempty"`
	AccountEnabled    bool     `json:"accountEnabled"`
	UserType          string   `json:"userType,omitempty"` // Member or Guest
	BusinessPhones    []string `json:"businessPhones"`
	MobilePhone       *string  `json:"mobilePhone"`
	OfficeLocation    *string  `json:"officeLocation"`
	PreferredLanguage *string  `json:"preferredLanguage"`

	AssignedLicenses []AssignedLicense `json:"assignedLicenses"`

	// Not Graph properties: the simulator's own facts about the user.
	HasMailbox bool `json:"-"`
	// Purpose is the mailbox's userPurpose (user, shared, room, equipment), which Graph shows
	// only in mailboxSettings, behind MailboxSettings.Read.
	Purpose string `json:"-"`
}

// AssignedLicense is assignedLicense (api-reference/v1.0/resources/assignedlicense.md).
type AssignedLicense struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// Message is message (api-reference/v1.0/resources/message.md).
type Message struct {
	ID                   string      `json:"id"`
	CreatedDateTime      time.Time   `json:"createdDateTime"`
	LastModifiedDateTime time.Time   `json:"lastModifiedDateTime"`
	ChangeKey            string      `json:"changeKey"`
	Categories           []string    `json:"categories"`
	ReceivedDateTime     time.Time   `json:"receivedDateTime"`
	SentDateTime         time.Time   `json:"sentDateTime"`
	HasAttachments       bool        `json:"hasAttachments"`
	InternetMessageID    string      `json:"internetMessageId"`
	Subject              string      `json:"subject"`
	BodyPreview          string      `json:"bodyPreview"`
	Importance           string      `json:"importance"`
	ParentFolderID       string      `json:"parentFolderId"`
	ConversationID       string      `json:"conversationId"`
	IsRead               bool        `json:"isRead"`
	IsDraft              bool        `json:"isDraft"`
	WebLink              string      `json:"webLink"`
	Body                 ItemBody    `json:"body"`
	Sender               *Recipient  `json:"sender"`
	From                 *Recipient  `json:"from"`
	ToRecipients         []Recipient `json:"toRecipients"`
	CcRecipients         []Recipient `json:"ccRecipients"`
	BccRecipients        []Recipient `json:"bccRecipients"`
	ReplyTo              []Recipient `json:"replyTo"`

	IsDeliveryReceiptRequested bool         `json:"isDeliveryReceiptRequested"`
	IsReadReceiptRequested     bool         `json:"isReadReceiptRequested"`
	InferenceClassification    string       `json:"inferenceClassification"` // focused or other
	Flag                       FollowupFlag `json:"flag"`
	// Sensitivity is Outlook's (normal, personal, private, confidential). Graph v1.0 has no
	// message property for it (microsoft-graph-docs issue 8359); it is the MAPI property
	// PidTagSensitivity (0x0036: 0 normal, 1 personal, 2 private, 3 confidential, [MS-OXPROPS]
	// 2.1011), read as a single-value extended property.
	Sensitivity string `json:"-"`
}

// FollowupFlag is followupFlag (api-reference/v1.0/resources/followupflag.md).
type FollowupFlag struct {
	FlagStatus string `json:"flagStatus"` // notFlagged, complete, flagged
}

// DateTimeTimeZone is dateTimeTimeZone (api-reference/v1.0/resources/datetimetimezone.md):
// a local date-time string without offset, and the time zone it is in.
type DateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// Location is location (api-reference/v1.0/resources/location.md).
type Location struct {
	DisplayName string `json:"displayName"`
}

// ResponseStatus is responseStatus (api-reference/v1.0/resources/responsestatus.md).
type ResponseStatus struct {
	Response string    `json:"response"` // none, organizer, tentativelyAccepted, accepted, declined, notResponded
	Time     time.Time `json:"time"`
}

// Attendee is attendee (api-reference/v1.0/resources/attendee.md).
type Attendee struct {
	Type         string         `json:"type"` // required, optional, resource
	Status       ResponseStatus `json:"status"`
	EmailAddress EmailAddress   `json:"emailAddress"`
}

// OnlineMeetingInfo is onlineMeetingInfo (api-reference/v1.0/resources/onlinemeetinginfo.md).
type OnlineMeetingInfo struct {
	JoinURL string `json:"joinUrl"`
}

// Event is event (api-reference/v1.0/resources/event.md). Type is singleMaster,
// occurrence, exception or seriesMaster; calendarView returns single events and the
// occurrences and exceptions of series, never the series master.
type Event struct {
	ID                   string             `json:"id"`
	CreatedDateTime      time.Time          `json:"createdDateTime"`
	LastModifiedDateTime time.Time          `json:"lastModifiedDateTime"`
	ChangeKey            string             `json:"changeKey"`
	ICalUID              string             `json:"iCalUId"`
	Subject              string             `json:"subject"`
	BodyPreview          string             `json:"bodyPreview"`
	Importance           string             `json:"importance"`
	IsAllDay             bool               `json:"isAllDay"`
	IsCancelled          bool               `json:"isCancelled"`
	IsOrganizer          bool               `json:"isOrganizer"`
	IsOnlineMeeting      bool               `json:"isOnlineMeeting"`
	SeriesMasterID       *string            `json:"seriesMasterId"`
	ShowAs               string             `json:"showAs"`
	Type                 string             `json:"type"`
	WebLink              string             `json:"webLink"`
	OnlineMeeting        *OnlineMeetingInfo `json:"onlineMeeting"`
	Start                DateTimeTimeZone   `json:"start"`
	End                  DateTimeTimeZone   `json:"end"`
	Location             Location           `json:"location"`
	Attendees            []Attendee         `json:"attendees"`
	Organizer            Recipient          `json:"organizer"`

	Categories            []string             `json:"categories"`
	HasAttachments        bool                 `json:"hasAttachments"`
	Sensitivity           string               `json:"sensitivity"`
	IsReminderOn          bool                 `json:"isReminderOn"`
	ResponseRequested     bool                 `json:"responseRequested"`
	IsDraft               bool                 `json:"isDraft"`
	OriginalStartTimeZone string               `json:"originalStartTimeZone"`
	OriginalEndTimeZone   string               `json:"originalEndTimeZone"`
	Body                  ItemBody             `json:"body"`
	OnlineMeetingURL      *string              `json:"onlineMeetingUrl"`
	OnlineMeetingProvider string               `json:"onlineMeetingProvider"`
	Locations             []Location           `json:"locations"`
	Recurrence            *PatternedRecurrence `json:"recurrence"`
	ResponseStatus        ResponseStatus       `json:"responseStatus"`
}

// PatternedRecurrence is a series master's recurrence
// (api-reference/v1.0/resources/patternedrecurrence.md).
type PatternedRecurrence struct {
	Pattern RecurrencePattern `json:"pattern"`
	Range   RecurrenceRange   `json:"range"`
}

// RecurrencePattern is recurrencePattern (api-reference/v1.0/resources/recurrencepattern.md).
type RecurrencePattern struct {
	Type           string   `json:"type"` // daily, weekly, absoluteMonthly, …
	Interval       int      `json:"interval"`
	DaysOfWeek     []string `json:"daysOfWeek,omitempty"`
	FirstDayOfWeek string   `json:"firstDayOfWeek,omitempty"`
}

// RecurrenceRange is recurrenceRange (api-reference/v1.0/resources/recurrencerange.md).
type RecurrenceRange struct {
	Type                string `json:"type"` // endDate, noEnd, numbered
	StartDate           string `json:"startDate"`
	EndDate             string `json:"endDate,omitempty"`
	RecurrenceTimeZone  string `json:"recurrenceTimeZone,omitempty"`
	NumberOfOccurrences int    `json:"numberOfOccurrences,omitempty"`
}

// Contact is contact (api-reference/v1.0/resources/contact.md).
type Contact struct {
	ID                   string         `json:"id"`
	CreatedDateTime      time.Time      `json:"createdDateTime"`
	LastModifiedDateTime time.Time      `json:"lastModifiedDateTime"`
	ChangeKey            string         `json:"changeKey"`
	ParentFolderID       string         `json:"parentFolderId"`
	DisplayName          string         `json:"displayName"`
	GivenName            string         `json:"givenName"`
	Surname              string         `json:"surname"`
	CompanyName          *string        `json:"companyName"`
	JobTitle             *string        `json:"jobTitle"`
	EmailAddresses       []EmailAddress `json:"emailAddresses"`
	BusinessPhones       []string       `json:"businessPhones"`
	MobilePhone          *string        `json:"mobilePhone"`

	Categories     []string `json:"categories"`
	FileAs         string   `json:"fileAs"`
	MiddleName     *string  `json:"middleName"`
	Title          *string  `json:"title"`
	Department     *string  `json:"department"`
	OfficeLocation *string  `json:"officeLocation"`
	HomePhones     []string `json:"homePhones"`
	ImAddresses    []string `json:"imAddresses"`
	PersonalNotes  string   `json:"personalNotes"`
}

// MailFolder is mailFolder (api-reference/v1.0/resources/mailfolder.md).
type MailFolder struct {
	ID               string `json:"id"`
	DisplayName      string `json:"displayName"`
	ParentFolderID   string `json:"parentFolderId"`
	ChildFolderCount int    `json:"childFolderCount"`
	UnreadItemCount  int    `json:"unreadItemCount"`
	TotalItemCount   int    `json:"totalItemCount"`
	IsHidden         bool   `json:"isHidden"`

	wellKnown string // inbox, sentitems, … (concepts: api-reference/v1.0/resources/mailfolder.md)
}

// ContactFolder is contactFolder (api-reference/v1.0/resources/contactfolder.md).
type ContactFolder struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	ParentFolderID string `json:"parentFolderId"`
}
