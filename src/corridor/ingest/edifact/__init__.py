"""UN/EDIFACT in: IFTSTA, CODECO, COARRI, COPRAR, IFTSAI, BAPLIE and IFTMIN (SMGS/CIM) to Corridor.

`parse_edifact(raw)` never raises. pydifact 0.2.3 tokenizes; `interchange` wraps it with the
envelope rules below; one module per message type maps segments to Events (DCSA semantics),
ScheduleUpdates (IFTSAI) and Stowage (BAPLIE). Each module's docstring holds its own table.

Policies
- Character set: bytes are decoded by the UNB syntax identifier: UNOA/UNOB ASCII, UNOC Latin-1,
  UNOD-UNOK ISO 8859-2/5/7/3/4/6/8/9 (UNOE Cyrillic, UNOK Turkish), UNOW/UNOY UTF-8. Bytes outside the
  declared set fall back to UTF-8, else Latin-1, with a warning; a Latin-n declaration over bytes
  that are valid UTF-8 is read as UTF-8 (warning). No UNB or an unknown identifier: UTF-8, else
  Latin-1 (warning). A UTF-8 BOM is dropped; a UTF-16 BOM decodes as UTF-16 (warning). `str` input
  is taken as already decoded.
- UNA: optional. Present, its six characters drive the tokenizer (a space as release character
  means none); unusable ones (separators equal to each other or alphanumeric) reject the file.
  Absent: the defaults `:+.? '`. Release characters are pydifact's: `??`, `?'`, `?+`, `?:`.
- Line breaks between segments are ignored; a line break inside a data element is kept as text
  and warned about. An empty segment (a terminator doubled, "''") is dropped (warning); a tag that
  is not three letters or digits (a stray character glued to it) is warned about, its segment unread. A missing final terminator is assumed (warning). Whitespace around a tag
  (CRLF then indentation) and lower-case tags and qualifiers ('eqd+cn', UNOB allows it) are read
  as the capitals they stand for; values keep their case (a lower-case UN/LOCODE is capitalised).
  Control counts are numbers: UNT+000907 counts 907.
- Envelope: several messages per interchange, UNG/UNE groups (pydifact has none) and bare
  messages without UNB (warning: sender and charset undeclared) are all read.
  UNT segment count wrong -> warning, message kept (counts are often hand-edited; UNH..UNT still
  delimit the message). UNT reference != UNH reference -> the message is rejected (its boundaries
  cannot be trusted). UNH without UNT (next UNH, UNZ or end of file first) -> rejected.
  UNZ reference or count wrong, UNE reference or count wrong, no UNZ -> warning, messages kept.
  An invalid UNB date (pydifact raises on it) -> warning; meta["prepared"] is None.
  A syntax error from the tokenizer rejects the message it falls in; reading resumes at the
  next UNH. Segments outside any message are ignored with one warning per tag.
- Granularity: one bad message rejects that message only; inside a message one bad container
  group (EQD, STS, LOC+147, port call) is rejected alone. BGM message function 1 (cancellation)
  rejects the message for manual review (IFTSAI: calls become status "cancelled").
  Exact repeats inside one message are kept once (warning).
- Rejection.segment is the 1-based position of the segment in the file as received (UNA, if
  present, is segment 1); message_ref is the UNH reference.
- Times: DTM formats 101/102/201/202/203/204 (local) and 205/301/303/304 (with offset: +HH,
  +HHMM, +HH:MM, UTC/Z, or a fixed zone name: CET, EET, MSK...). Periods (713/717/718/719/720,
  or any 'start-end' value) give their start (warning). A value whose length does not fit its
  format is read by its length (warning); a reading whose year is outside 1950-2100 (e.g. 305
  MMDDHHMM read as CCYYMMDD) rejects the group with the reason. Local times take the zone of
  the event's location from `tz_for(locode)`; no zone
  known -> UTC with a warning. Events keep the sender's offset.
  A date (102) and its time of day (401 HHMM / 402 HHMMSS) sent as two DTMs of one qualifier
  are read as one time (warning); a time of day with no date beside it rejects the group.
  A value written with separators ('2026-03-02 10:30', released '10?:30', an ISO offset '+04:00')
  is read when it is a whole date with an optional HH:MM[:SS] and offset (warning); a value a bare
  ':' or '+' cut into more components or elements than C507 has is put back together (the last
  piece is the format when Corridor reads that code) and read the same way (warning). A time of
  day without a date, or pieces that make no such date, reject the group with the reason.
- Containers: EQD+CN ids are checked by ISO 6346. An ISO-shaped id (4 letters, 6-7 digits) that
  fails -> the container's group is rejected with the reason (IFTSTA: that container only; the
  status of the others, or the vehicle's departure/arrival, is kept); an id that is clearly not
  ISO 6346 (e.g. 'CONTAINER', a swap-body code) is kept as sent with a warning; equipment that is
  not CN (trailers, swap bodies) is kept without the check (warning).
- Modes: TDT 8067 is a one-digit Rec 19 mode. Two digits there are read when the old Rec 19
  subdivision ('20' rail: first digit) and the Rec 28 means ('25' rail express) agree, '10'/'20'/
  '30'/'80' by their first digit; air, mail or readings that disagree reject the group, naming them.
- References: RFF values that are only zeros ('RFF+BM:0' on empties) are placeholders, ignored (warning).
- Locations are used as sent (UN/LOCODE from LOC); the terminal code (LOC related place) goes to
  TransportCall.facility_code. source_party: the argument, else the UNB sender id.
  Event.message_id is "<UNB reference>/<UNH reference>"; Event.event_id "<UNH ref>:<segment>".
- An interchange whose sender id no party or alias knows is held whole: one quarantine entry for
  the message (sender id, counts, containers, the alias command); a replay after the alias stores
  every event (ingest/service.py).
- Unsupported message types (IFTMBC, PAORES...) are rejected, naming the supported ones.
"""

from .reader import MAPPERS, parse_edifact

__all__ = ["parse_edifact", "MAPPERS"]
