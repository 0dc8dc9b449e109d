"""Names and numbers that the chapters, the exercises and the grader all share."""

#: The label a labeling function returns when it has no opinion.
ABSTAIN = -1
#: A legitimate comment.
HAM = 0
#: A spam comment.
SPAM = 1

#: Human-readable names of the labels, for tables and plots.
LABEL_NAMES = {ABSTAIN: "ABSTAIN", HAM: "HAM", SPAM: "SPAM"}

#: The one seed that every shuffle, split and model in the course uses.
SEED = 123

#: The five CSV files of the YouTube Spam Collection, in the order that gives
#: each its video number (1 to 5).
VIDEO_FILES = (
    "Youtube01-Psy.csv",
    "Youtube02-KatyPerry.csv",
    "Youtube03-LMFAO.csv",
    "Youtube04-Eminem.csv",
    "Youtube05-Shakira.csv",
)

#: The video whose comments are held out for validation and test.
TEST_VIDEO = 5

#: The columns of every split, in order.
COLUMNS = ("author", "date", "text", "label", "video")
