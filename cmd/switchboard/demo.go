package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

// The demo: a newcomer's first command shows routing live within a minute.

// demoPassword is every demo user's password, printed at start.
const demoPassword = "demo-password"

var demoAgents = []struct{ name, email string }{
	{"Ann Archer", "ann@demo.test"}, {"Bob Baker", "bob@demo.test"},
	{"Carla Cruz", "carla@demo.test"}, {"Dan Dietz", "dan@demo.test"},
}

var demoMessages = []string{
	"Hi! My order has not arrived yet.", "Can I change my delivery address?",
	"The app logs me out every few minutes.", "Do you ship to Norway?",
	"I was charged twice this month.", "How do I reset my password?",
}

// seedDemo fills an empty database with the demo's account, agents and
// inboxes, and prints how to sign in. On a database that already holds the
// demo it only prints; on any other non-empty database it refuses.
func seedDemo(ctx context.Context, db *store.DB, url string, out io.Writer) (switchboard.Caller, error) {
	admin := switchboard.Caller{UserID: 1, AccountID: 1, Role: switchboard.RoleAdministrator}
	account, user, created, err := db.Bootstrap(ctx, "Demo", "Ada Admin", "admin@demo.test", demoPassword)
	if err != nil {
		return admin, err
	}
	if !created {
		if !demoSeeded(ctx, db, admin) {
			return admin, fmt.Errorf("--demo needs an empty database or one that holds the demo; use another --db")
		}
	} else {
		admin = switchboard.Caller{UserID: user.ID, AccountID: account.ID, Role: switchboard.RoleAdministrator}
		if err := seedAgentsAndInboxes(ctx, db, admin); err != nil {
			return admin, err
		}
	}
	fmt.Fprintf(out, "\nSwitchboard demo on %s\nSign in with any of these (password %q):\n  admin@demo.test (administrator)\n", url, demoPassword)
	for _, a := range demoAgents {
		fmt.Fprintf(out, "  %s\n", a.email)
	}
	fmt.Fprintln(out, "Conversations arrive every few seconds, and agents come and go.")
	return admin, nil
}

func demoSeeded(ctx context.Context, db *store.DB, admin switchboard.Caller) bool {
	agents, err := db.Agents(ctx, admin)
	return err == nil && len(agents) == len(demoAgents)+1 && agents[1].Email == demoAgents[0].email
}

func seedAgentsAndInboxes(ctx context.Context, db *store.DB, admin switchboard.Caller) error {
	var ids []int64
	for i, a := range demoAgents {
		availability := switchboard.Online
		if i == len(demoAgents)-1 {
			availability = switchboard.Offline
		}
		agent, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{
			Name: a.name, Email: a.email, Role: switchboard.RoleAgent, Password: demoPassword, Availability: availability,
		})
		if err != nil {
			return err
		}
		ids = append(ids, agent.ID)
	}
	inboxes := []struct {
		inbox   switchboard.NewInbox
		members []int64
	}{
		{switchboard.NewInbox{Name: "Website chat", EnableAutoAssignment: true, EnableAutoReassignment: true}, ids[:3]},
		{switchboard.NewInbox{Name: "Billing e-mail", EnableAutoAssignment: true, EnableAutoReassignment: true,
			MaxAssignmentLimit: 3, AssignmentMode: switchboard.Balanced}, ids[2:]},
	}
	for _, in := range inboxes {
		created, err := db.CreateInbox(ctx, admin, in.inbox)
		if err != nil {
			return err
		}
		if _, err := db.ChangeMembers(ctx, admin, created.ID, in.members, store.AddMembers); err != nil {
			return err
		}
	}
	return nil
}

// runDemo makes the demo's traffic every interval until ctx ends: mostly new
// conversations, sometimes a resolve, sometimes an agent coming or going.
func runDemo(ctx context.Context, db *store.DB, admin switchboard.Caller, interval time.Duration, log *slog.Logger) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := demoStep(ctx, db, admin, rng); err != nil && ctx.Err() == nil {
			log.Warn("demo step", "err", err)
		}
	}
}

func demoStep(ctx context.Context, db *store.DB, admin switchboard.Caller, rng *rand.Rand) error {
	inboxes, err := db.Inboxes(ctx, admin)
	if err != nil || len(inboxes) == 0 {
		return err
	}
	switch n := rng.IntN(10); {
	case n < 6:
		_, err = db.CreateConversation(ctx, admin, switchboard.NewConversation{
			InboxID: inboxes[rng.IntN(len(inboxes))].ID, Message: demoMessages[rng.IntN(len(demoMessages))],
		})
	case n < 8:
		list, _, lerr := db.Conversations(ctx, admin, switchboard.ConversationFilter{AssigneeType: "assigned", Status: "open", Page: 1})
		if lerr != nil || len(list) == 0 {
			return lerr
		}
		resolved := switchboard.StatusResolved
		_, err = db.ChangeStatus(ctx, admin, list[rng.IntN(len(list))].ID, switchboard.StatusChange{Status: &resolved})
	default:
		agents, aerr := db.Agents(ctx, admin)
		if aerr != nil || len(agents) < 2 {
			return aerr
		}
		a := agents[1+rng.IntN(len(agents)-1)]
		next := []switchboard.Availability{switchboard.Online, switchboard.Busy, switchboard.Offline}[rng.IntN(3)]
		err = db.SetAvailability(ctx, admin, a.ID, next)
	}
	return err
}
