"""The release registry: a serving directory of numbered versions (`versions`), its
decision log (`log`), what a release manager does with it (`manager`: list, rollback,
restore), and its index page (`page`). The pipeline's LatestRelease and Pusher steps and the
`petseg releases` commands share it."""
