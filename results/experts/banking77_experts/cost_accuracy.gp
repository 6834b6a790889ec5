set terminal svg size 720,480 noenhanced
set output 'results/experts/banking77_experts/cost_accuracy.svg'
set title 'banking77_multi_llm: cost and accuracy (10 seeds, test)'
set xlabel 'price per 1,000 queries'
set ylabel 'accuracy'
set key bottom right
set grid
plot 'results/experts/banking77_experts/curves.dat' index 0 with linespoints title 'random', 'results/experts/banking77_experts/curves.dat' index 1 with linespoints title 'cascade', 'results/experts/banking77_experts/curves.dat' index 2 with linespoints title 'bayes plugin', 'results/experts/banking77_experts/curves.dat' index 3 with linespoints title 'two stage', 'results/experts/banking77_experts/curves.dat' index 4 with lines dashtype 2 title 'oracle (hindsight)', 'results/experts/banking77_experts/curves.dat' index 5 with points pointsize 1.6 pointtype 7 title 'gpt35', 'results/experts/banking77_experts/curves.dat' index 6 with points pointsize 1.6 pointtype 7 title 'gpt4', 'results/experts/banking77_experts/curves.dat' index 7 with points pointsize 1.6 pointtype 7 title 'gpt4_nonrep', 'results/experts/banking77_experts/curves.dat' index 8 with points pointsize 1.6 pointtype 7 title 'surrogate'
