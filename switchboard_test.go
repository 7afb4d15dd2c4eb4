package switchboard_test

import (
	"testing"

	"github.com/switchboard/switchboard"
)

func TestCallerIn(t *testing.T) {
	u := switchboard.User{ID: 7, Accounts: []switchboard.Membership{
		{AccountID: 1, Role: switchboard.RoleAgent},
		{AccountID: 2, Role: switchboard.RoleAdministrator},
	}}
	for _, tc := range []struct {
		name    string
		account int64
		want    switchboard.Caller
		code    switchboard.Code
	}{
		{"agent in the first account", 1, switchboard.Caller{UserID: 7, AccountID: 1, Role: switchboard.RoleAgent}, ""},
		{"administrator in the second", 2, switchboard.Caller{UserID: 7, AccountID: 2, Role: switchboard.RoleAdministrator}, ""},
		{"an account they are not in is not found", 3, switchboard.Caller{}, switchboard.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := u.CallerIn(tc.account)
			if tc.code != "" {
				if switchboard.ErrorCode(err) != tc.code {
					t.Fatalf("error %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CallerIn(%d) = %+v, %v; want %+v", tc.account, got, err, tc.want)
			}
		})
	}
}
