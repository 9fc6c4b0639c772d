"""The life of an expert (issue 5): intake, vetting, public notice,
appointment, renewal, self-service, suspension and exit.

models      applications, documents, votes, objections, renewals, change
            requests, exits, the status history and the local calendar
states      the state machine: every legal transition in one table
workdays    working days from chinese-calendar plus local overrides
documents   attached files on disk under instance/, type and size checked
operations  the rules with an actor: authorise, change, audit, flush
daily       `flask lifecycle run-daily`: renewals, term ends, age limits, notices
"""
