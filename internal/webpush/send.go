package webpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Message is one push: its payload and how the push service is to treat
// it (RFC 8030 section 5).
type Message struct {
	Payload []byte
	// TTL is how long the push service keeps it for a device that is not
	// reachable; a ring is worth nothing after a minute.
	TTL time.Duration
	// Urgency: "very-low", "low", "normal" or "high" (a ring is high).
	Urgency string
	// Topic, if set, replaces an undelivered message of the same topic.
	Topic string
}

// NewClient is an HTTP client for Send that follows no redirect (a push
// service answers; it does not send the sender elsewhere) and gives up
// after timeout.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ErrGone is a subscription the push service no longer has (404 or 410):
// its holder unsubscribed or the browser dropped it. Forget it.
var ErrGone = errors.New("webpush: the subscription is gone")

// Send encrypts m to s and posts it to s's push service, identified by v
// with contact sub. It returns ErrGone for a dead subscription.
func Send(ctx context.Context, client *http.Client, s Subscription, m Message, v *VAPID, sub string) error {
	if err := s.Check(); err != nil {
		return err
	}
	body, err := Encrypt(s, m.Payload)
	if err != nil {
		return err
	}
	auth, err := v.Authorization(s.Endpoint, sub, time.Now(), 12*time.Hour)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.Itoa(int(m.TTL/time.Second)))
	if m.Urgency != "" {
		req.Header.Set("Urgency", m.Urgency)
	}
	if m.Topic != "" {
		req.Header.Set("Topic", m.Topic)
	}
	req.Header.Set("Authorization", auth)
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webpush: posting to the push service: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return ErrGone
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("webpush: the push service answered %s: %q", resp.Status, msg)
	}
	return nil
}
