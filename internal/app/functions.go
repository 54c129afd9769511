// Package app is the single source of truth for the Azure Functions this
// app defines: their names, triggers, routes and the app settings they
// reference. The function.json files under functions/ are generated from it
// (go run ./internal/pack -gen) and the handler registers its routes from it,
// so the two cannot drift.
package app

import "github.com/feeds2sentinel/feeds2sentinel/internal/feed"

// Trigger is the kind of trigger binding a function has.
type Trigger string

// The trigger kinds used by this app.
const (
	TriggerTimer      Trigger = "timerTrigger"
	TriggerServiceBus Trigger = "serviceBusTrigger"
	TriggerHTTP       Trigger = "httpTrigger"
)

// Function describes one Azure Function.
type Function struct {
	Name    string  // function (folder) name, e.g. FeedThreatFox
	Trigger Trigger // trigger binding type
	// Feed is the feed name a timer function runs ("" for non-feed
	// functions). FeedUserLists runs every user-defined list.
	Feed string
	// Schedule is the app setting holding the NCRONTAB schedule (timer).
	Schedule string
	// Queue is the app setting holding the queue name and Connection the
	// connection prefix (Service Bus trigger).
	Queue      string
	Connection string
	// Sessions says the queue requires sessions: the trigger then holds
	// one session at a time, which serializes the upload path across
	// every instance of the app.
	Sessions bool
	// Route, Methods and AuthLevel describe an HTTP trigger. Route is
	// relative to /api.
	Route     string
	Methods   []string
	AuthLevel string
}

// Path is the path the Functions host calls on the handler: /api/<route>
// for HTTP functions (request proxying and forwarding keep the client's
// path) and /<Name> for every other trigger.
func (f Function) Path() string {
	if f.Trigger == TriggerHTTP {
		return "/api/" + f.Route
	}
	return f.InvokePath()
}

// InvokePath is /<Name>, the path the host POSTs an invocation payload to:
// every non-HTTP trigger, and an HTTP function when the host neither
// proxies nor forwards its requests.
func (f Function) InvokePath() string {
	return "/" + f.Name
}

// UserListsFeed is the Feed value of the timer function that runs every
// user-defined list (FEED_<NAME>_URL settings that name no built-in feed).
const UserListsFeed = "userlists"

// The non-feed functions.
const (
	FunctionUpload = "UploadIndicators"
	FunctionSubmit = "SubmitIndicators"
	FunctionStatus = "Status"
)

// Functions returns every function of the app, feeds first, in a stable
// order. The slice is new on every call.
func Functions() []Function {
	return FunctionsFor(feed.Builtin())
}

// FunctionsFor returns the functions of an app with the given built-in
// sources: one timer per source (Source.Function, its schedule in
// FEED_<NAME>_SCHEDULE), FeedUserLists, the uploader, and the HTTP
// functions.
func FunctionsFor(sources []feed.Source) []Function {
	fs := make([]Function, 0, len(sources)+4)
	timer := func(name, feedName string) Function {
		return Function{Name: name, Trigger: TriggerTimer, Feed: feedName, Schedule: feed.SettingName(feedName, "SCHEDULE")}
	}
	for _, src := range sources {
		fs = append(fs, timer(src.Function, src.Name))
	}
	fs = append(fs,
		timer("FeedUserLists", UserListsFeed),
		Function{Name: FunctionUpload, Trigger: TriggerServiceBus, Queue: "SERVICEBUS_QUEUE", Connection: "ServiceBusConnection", Sessions: true},
		Function{Name: FunctionSubmit, Trigger: TriggerHTTP, Route: "indicators", Methods: []string{"post"}, AuthLevel: "function"},
		Function{Name: FunctionStatus, Trigger: TriggerHTTP, Route: "status", Methods: []string{"get"}, AuthLevel: "function"},
	)
	return fs
}
