"""The sources library: the identities (a name and its photos) the studio's gallery shows and the
task API lists — plain data in the settings folder, no Qt."""
