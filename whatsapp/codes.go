package whatsapp

import "strconv"

// The one table of Meta's error codes deflectd knows: what to do with a request that got one
// (Class: retry, not for this recipient, fix the configuration, or give up) and what it means
// for a person (an agent in the console, an operator reading a log). From Meta's Cloud API
// error-code reference. The client retries Retryable ones (130429 and 131056 with backoff,
// honouring Retry-After), counts Config ones in deflectd_whatsapp_config_alarms_total, and never
// resends the others. Every error answer is counted in deflectd_whatsapp_errors_total by its code
// here (others as "other").
var codes = map[int]codeInfo{
	131047: {RecipientPermanent, "More than 24 hours have passed since the customer last wrote, so WhatsApp only accepts an approved template.", "Send a template; free text works again once the customer answers."},
	131026: {RecipientPermanent, "WhatsApp could not deliver the message: the number may not be on WhatsApp, or the customer's app is outdated or has not accepted the latest terms.", "Reach the customer another way (call back) or try again later."},
	131049: {RecipientPermanent, "Meta did not deliver this marketing template, to keep the customer's experience healthy.", "Do not resend at once; try later or use a utility template."},
	131050: {RecipientPermanent, "The customer has stopped marketing messages from this business.", "Do not send marketing templates to this customer."},
	131048: {RecipientPermanent, "Too many of this number's messages were blocked or reported, so WhatsApp is limiting sends.", "Wait before sending more and review message quality."},
	// 131062 arrived with business-scoped user ids (usernames); Meta's BSUID guide lists it.
	// Seen here only in third-party copies of that guide, not on Meta's error-code page.
	131062: {Other, "WhatsApp does not accept a business-scoped user id as the recipient of this kind of message.", "Send it to the customer's phone number, or send another kind of message."},
	131056: {Retryable, "Too many messages to this customer in a short time.", "Wait a few seconds and send again."},
	130429: {Retryable, "The business number reached its sending rate limit.", "Wait a moment and send again."},
	131051: {Other, "WhatsApp does not support this message type.", "Send text or a supported media type."},
	131052: {Other, "WhatsApp could not download the media the customer sent.", "Ask the customer to send it again."},
	131053: {Other, "WhatsApp could not upload the media of this message.", "Check the file's type and size and attach it again."},
	131000: {Retryable, "Something went wrong on WhatsApp's side.", "Send again; if it keeps failing, contact an administrator."},
	131008: {Other, "A required part of the message is missing.", "Check the template's parameters and send again."},
	131009: {Other, "A value in the message is not valid.", "Check the parameters and send again."},
	132000: {Config, "The template got a different number of parameters than it has placeholders.", "Fill in every parameter and send again."},
	132001: {Config, "The template does not exist in this language or is not approved.", "Pick another template or language."},
	132005: {Other, "The template's text with its parameters is too long.", "Shorten the parameters."},
	132012: {Config, "A template parameter has the wrong format.", "Check the parameters and send again."},
	132015: {Config, "The template is paused because of low quality.", "Pick another template."},
	132016: {Config, "The template was disabled because of low quality.", "Pick another template."},
	130472: {RecipientPermanent, "Meta held this message back as part of an experiment on this customer's number.", "Try again later."},
	131031: {Config, "The business account is locked.", "Contact an administrator."},
	131042: {Config, "There is a payment problem with the business account.", "Contact an administrator."},
	368:    {Config, "The business account is restricted for violating WhatsApp's policies.", "Contact an administrator."},
	190:    {Config, "deflectd's WhatsApp access token expired or is invalid.", "Contact an administrator."},
	4:      {Retryable, "The app made too many Graph API calls.", "Wait; deflectd retries with backoff."},
	80007:  {Retryable, "The WhatsApp Business Account reached its rate limit.", "Wait; deflectd retries with backoff."},
}

type codeInfo struct {
	class          Class
	reason, action string
}

// Explain returns a plain-language reason for one of Meta's error codes and what to do.
func Explain(code int) (reason, action string) {
	if f, ok := codes[code]; ok {
		return f.reason, f.action
	}
	if code == 0 {
		return "WhatsApp reported the message as failed without a reason.", "Send again; if it keeps failing, contact an administrator."
	}
	return "WhatsApp refused the message (error " + strconv.Itoa(code) + ").", "Send again; if it keeps failing, contact an administrator."
}

// errorLabel is code's label in deflectd_whatsapp_errors_total: the table's codes by number, any
// other as "other", so a stray code cannot grow the series without bound.
func errorLabel(code int) string {
	if _, ok := codes[code]; ok {
		return strconv.Itoa(code)
	}
	return "other"
}

// CodeClass is the table's class for a code, and whether the table knows it.
func CodeClass(code int) (Class, bool) {
	f, ok := codes[code]
	return f.class, ok
}
