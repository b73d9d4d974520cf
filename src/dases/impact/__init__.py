"""Impact studies of learning solutions across providers: users against comparable non-users."""
