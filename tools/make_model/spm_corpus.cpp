#include "tools/make_model/spm_corpus.h"

namespace ps::make_model {

// Everyday words, numbers and punctuation, so that the learned pieces cover common English:
// changing this text changes the vocabulary and with it every built-in model file.
std::string_view SpmTrainingText() {
  return R"(Once upon a time there was a small town by the sea. The people who lived there were
fishermen, bakers, teachers and farmers, and every morning they walked down to the harbour to
see what the night had brought. Some days the boats came back full of silver fish; other days
the water was empty and the nets were torn. The children of the town liked to sit on the stone
wall and count the boats as they came in: one, two, three, four, five, six, seven, eight, nine,
ten. When the last boat was home, they ran back to school before the bell rang.

The old lighthouse keeper had lived alone on the rock for more than forty years. He kept a book
in which he wrote down the weather, the ships that passed and the birds that rested on the
railing. His handwriting was slow and careful. "A storm is coming," he would say, "and it will
be here before the evening." He was almost always right, and the town trusted him more than the
radio. In the winter of 1987 the wind was so strong that the glass in the lamp broke twice, but
the light never went out.

Learning to cook is a matter of patience and practice. Start with simple things: bread, soup,
rice and eggs. Read the whole recipe before you begin, and put everything you need on the table.
Heat the pan slowly, add a little oil, and listen to the sound it makes. If the onions turn
brown too quickly, the heat is too high. Taste the food as you go, and add salt a little at a
time, because you can always add more but you cannot take it away. The best meals are often
the ones that are shared with friends and family around a large wooden table.

A computer is a machine that follows instructions. The instructions are written in a program,
and the program is stored in memory together with the data it works on. The processor reads one
instruction at a time, does what it says, and moves on to the next one. Modern processors can
do billions of these steps in a single second, and they have many cores working at the same
time. Still, a program is only as good as the person who wrote it: a small mistake in one line
can make the whole system stop, and finding that mistake can take a long time.

The river starts high in the mountains, where the snow melts in the spring. At first it is only
a thin stream of cold, clear water running between the rocks. Other streams join it as it flows
down the valley, and by the time it reaches the plain it is wide and slow. Farmers use its water
for their fields, cities take it for drinking, and boats carry goods along it from one port to
another. In the summer the river is low and warm; in the autumn heavy rain can make it rise
over its banks and flood the roads and the houses nearby.

Reading is one of the great pleasures of life. A good story can take you to places you have
never seen and let you meet people you would never otherwise know. Some readers like long novels
with many characters; others prefer short poems, history books or the newspaper. It does not
matter very much what you read, as long as you read often and think about what you have read.
Libraries are open to everyone, and many of them also lend music, films and games.

The garden behind the house was small, but it was full of life. There were roses along the
fence, tomatoes and beans in the middle, and an apple tree in the corner that gave more fruit
than the family could eat. Every evening the grandmother walked slowly between the rows, pulling
out weeds and talking to the plants as if they could hear her. She said that plants grow better
when someone cares for them, and nobody in the family ever argued with her about it.

Science begins with a question. Why is the sky blue? How do birds find their way home? What
makes a bridge strong enough to carry a train? To answer such questions, scientists make careful
observations, form an idea that could explain them, and then test that idea with experiments.
If the results agree with the idea, it becomes stronger; if they do not, the idea must change.
Over many years this simple method has given us medicine, electricity, airplanes and the maps
of distant stars. There is still much that we do not understand, and that is what makes the
work interesting.

Travelling by train is a quiet way to see a country. You sit by the window and watch the fields,
the forests and the little villages go by. At each station people get on and off: a student
with a heavy bag, a mother with two small children, a man in a dark suit reading his phone. The
journey from the capital to the coast takes about six hours, and the ticket costs 45 euros if
you buy it a week before. Many people think that the slow trains are the best ones, because
there is time to talk, to read and to look outside.
)";
}

}  // namespace ps::make_model
