package web_test

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/switchboard/switchboard"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the conversation view's screenshot to docs/conversation.png")

// TestConversationScreenshot renders the conversation view with its sidebar
// and checks that the sidebar is on screen; with -update-screenshot it writes
// the picture that the README shows.
func TestConversationScreenshot(t *testing.T) {
	c := newConsole(t)
	ctx := context.Background()
	ann, bob := c.agent("Ann", switchboard.RoleAgent), c.agent("Bob", switchboard.RoleAgent)
	c.agent("Carla", switchboard.RoleAgent)
	in := c.inbox("Website", ann, bob)
	c.browser(t, "ann@example.com") // Ann signs in and is online
	conv, err := c.db.CreateConversation(ctx, c.admin, switchboard.NewConversation{InboxID: in.ID, Message: "Hi! My order #4411 has not arrived yet."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.Assign(ctx, c.admin, conv.ID, &bob.ID); err != nil {
		t.Fatal(err)
	}
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive())
	inView := js[bool](t, admin, `(() => { const r = document.querySelector('.sidebar').getBoundingClientRect();
		return r.width > 0 && r.right <= window.innerWidth && r.bottom <= window.innerHeight; })()`)
	if !inView {
		t.Error("the Conversation Details sidebar is not fully on screen at 1280x800")
	}
	shot := get(t, admin, chromedp.CaptureScreenshot())
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 1000 {
		t.Fatalf("screenshot is not a full-width PNG: %v", err)
	}
	if *updateScreenshot {
		if err := os.WriteFile("../docs/conversation.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
