package whatsapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// NumberHealth is the business number's standing as GET /{Phone-Number-ID} gives it. Field
// names and values from Meta's OpenAPI document (facebook/openapi,
// business-messaging-api_v23.0.yaml, path /{Version}/{Phone-Number-ID}, schema
// WhatsAppBusinessPhoneNumber): quality_rating GREEN, YELLOW, RED or NA (Meta's webhooks say
// UNKNOWN); messaging_limit_tier TIER_50, TIER_250, TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED.
type NumberHealth struct {
	ID                 string `json:"id"`
	QualityRating      string `json:"quality_rating"`
	MessagingLimitTier string `json:"messaging_limit_tier"`
}

// numberHealthFields is the fields query of NumberHealth (without it Meta answers the default
// fields, which leave out messaging_limit_tier).
const numberHealthFields = "quality_rating,messaging_limit_tier"

// NumberHealth reads the quality rating and messaging limit tier of the client's phone number.
func (c *Client) NumberHealth(ctx context.Context) (NumberHealth, error) {
	var out NumberHealth
	u := c.graphURL(c.cfg.PhoneNumberID) + "?" + url.Values{"fields": {numberHealthFields}}.Encode()
	if err := c.graphJSON(ctx, "phone_number", http.MethodGet, u, nil, &out); err != nil {
		return NumberHealth{}, fmt.Errorf("read phone number health: %w", err)
	}
	return out, nil
}
