"""Decision items, panel requests and the matcher (issue 4).

models      decision items, panel requests, engagements, employment history
            and the immutable Recommendation record of each matcher run
matcher     pure: hard filters, ranking, composition (plain data in and out)
draw        pure: commit-reveal seed, draw order, re-running a stored draw
facts       reads the database into the plain data the matcher takes
operations  the rules with an actor: authorise, change, audit, flush
"""
